/* dw_sim_units: the units file (deploy/units/NAME.csv: code,name,type,parent)
 * of a simulated province, so that `serve` can show names next to the
 * codes the events carry. Communes come with the profile's names; an
 * agency's name is made from its code's template: the prefix says the
 * kind of body (UBND = People's Committee, CA = police, VPDKDD = land
 * registration office, THUE = tax, STP = justice department) and the
 * commune or province it belongs to gives the rest, e.g. UBND-29221 ->
 * "UBND Xã Long Hiệp", VPDKDD-86 -> "Văn phòng Đăng ký đất đai Tỉnh Vĩnh
 * Long". An agency of another prefix is named by its code. The province
 * row carries the province's code; aggregates name the province unit
 * "all", which serve maps to it. Rows: the province, then each commune
 * with its agencies, then the province's agencies, then the procedures. */
#include <stdio.h>
#include <string.h>

#include "dw_sim_profile.h"

static const struct {
  const char *prefix, *name;
} agency_kinds[] = {
  {"UBND-", "UBND"},
  {"CA-", "Công an"},
  {"VPDKDD-", "Văn phòng Đăng ký đất đai"},
  {"THUE-", "Thuế"},
  {"STP-", "Sở Tư pháp"},
};

/* A CSV field: quoted when it holds a comma, quote or newline. */
static void field(dw_buf *b, const char *s) {
  if (!strpbrk(s, ",\"\n")) {
    dw_buf_puts(b, s);
    return;
  }
  dw_buf_putc(b, '"');
  for (; *s; s++) {
    if (*s == '"') dw_buf_putc(b, '"');
    dw_buf_putc(b, *s);
  }
  dw_buf_putc(b, '"');
}

static void row(dw_buf *b, const char *code, const char *name, const char *type, const char *parent) {
  field(b, code);
  dw_buf_putc(b, ',');
  field(b, name);
  dw_buf_printf(b, ",%s,", type);
  field(b, parent);
  dw_buf_putc(b, '\n');
}

/* Has this code been written already? (a few dozen distinct templates) */
static int seen(char (*list)[DW_ID_MAX], int n, const char *code) {
  for (int i = 0; i < n; i++)
    if (strcmp(list[i], code) == 0) return 1;
  return 0;
}

static void agency_row(dw_buf *b, const char *code, const char *owner_name, const char *parent) {
  char name[DW_SIM_NAME_MAX * 2];
  snprintf(name, sizeof name, "%s", code);
  for (size_t k = 0; k < sizeof agency_kinds / sizeof *agency_kinds; k++)
    if (strncmp(code, agency_kinds[k].prefix, strlen(agency_kinds[k].prefix)) == 0)
      snprintf(name, sizeof name, "%s %s", agency_kinds[k].name, owner_name);
  row(b, code, name, "agency", parent);
}

int dw_sim_profile_units_csv(const dw_sim_profile *prof, dw_buf *b) {
  dw_buf_puts(b, "code,name,type,parent\n");
  row(b, prof->province_code, prof->province_name, "province", "");
  char province_agencies[64][DW_ID_MAX];
  int npa = 0;
  for (int i = 0; i < prof->n_communes; i++) {
    const dw_sim_commune *c = &prof->communes[i];
    row(b, c->code, c->name, "commune", prof->province_code);
    char mine[DW_SIM_MAX_PROCEDURES + DW_SIM_MAX_TRANSFER][DW_ID_MAX];
    int nm = 0;
    for (int k = 0; k < c->p.n_procedures + c->p.n_transfer; k++) {
      const char *tmpl = k < c->p.n_procedures ? c->p.procedures[k].agency : c->p.transfer_agencies[k - c->p.n_procedures];
      char code[DW_ID_MAX];
      dw_sim_agency(prof, c, tmpl, code, sizeof code);
      if (strstr(tmpl, "{commune}")) {
        if (!seen(mine, nm, code)) {
          snprintf(mine[nm++], DW_ID_MAX, "%s", code);
          agency_row(b, code, c->name, c->code);
        }
      } else if (!seen(province_agencies, npa, code) && npa < 64) {
        snprintf(province_agencies[npa++], DW_ID_MAX, "%s", code);
      }
    }
  }
  for (int i = 0; i < npa; i++) agency_row(b, province_agencies[i], prof->province_name, prof->province_code);
  /* procedures: the first commune's list, then any other commune's new ones */
  char procs[256][DW_CODE_MAX];
  int np = 0;
  for (int i = 0; i < prof->n_communes; i++)
    for (int k = 0; k < prof->communes[i].p.n_procedures && np < 256; k++) {
      const dw_sim_procedure *p = &prof->communes[i].p.procedures[k];
      int dup = 0;
      for (int j = 0; j < np && !dup; j++) dup = strcmp(procs[j], p->code) == 0;
      if (dup) continue;
      snprintf(procs[np++], DW_CODE_MAX, "%s", p->code);
      row(b, p->code, p->name[0] ? p->name : p->code, "procedure", "");
    }
  return b->oom ? -1 : 0;
}
