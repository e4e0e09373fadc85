/* dw_sim_profile: what `simulate` simulates. A profile is a province of
 * communes, each with its procedures, intake volume, channel mix and the
 * probabilities of every lifecycle branch (digitization, reuse, supplement,
 * lateness, apology, transfer, rejection, payment, rating...). Profiles are
 * JSON files (deploy/simulate/NAME.json): "defaults" plus per-commune
 * overrides. Without a profile a plausible province of ~100 communes is
 * generated. Every loading error names the offending field, e.g.
 * "communes[2].code: must be a 5-digit ...".
 *
 * Format (every key optional unless said):
 *   {"name": "...", "description": "...",
 *    "province": {"code": "86", "name": "..."},
 *    "defaults": {PARAMS},
 *    "communes": [{"code": "29221" (required, 5 digits), "name": "...", PARAMS}],
 *    "generate_communes": N   (no "communes": a generated province of N)}
 * PARAMS are the fields of dw_sim_params below by the same names, plus
 *   "channels": {"IN_PERSON": 0.4, "POSTAL": 0.05, "ONLINE_PARTIAL": 0.3, "ONLINE_FULL": 0.25},
 *   "rating_weights": [w1, w2, w3, w4, w5],
 *   "procedures": [{"code": "1.001612", "name": "...", "processing_days": 1,
 *                   "agency": "UBND-{commune}", "weight": 24}]  (replaces the list),
 *   "transfer_agencies": ["VPDKDD-{province}", ...]. */
#ifndef DW_SIM_PROFILE_H
#define DW_SIM_PROFILE_H

#include <stddef.h>

#include "dw_event.h"

#define DW_SIM_MAX_PROCEDURES 32
#define DW_SIM_MAX_TRANSFER 8
#define DW_SIM_NAME_MAX 128

typedef struct dw_sim_procedure {
  char code[DW_CODE_MAX];   /* national code, e.g. 1.001612 */
  char name[DW_SIM_NAME_MAX];
  int processing_days;      /* legal processing time, working days (>= 1) */
  char agency[DW_ID_MAX];   /* template: {commune} and {province} are replaced */
  double weight;            /* share of the commune's intake */
} dw_sim_procedure;

/* Probabilities are per dossier, in 0..1, unless said otherwise. */
typedef struct dw_sim_params {
  double daily_intake_mean;        /* dossiers received per working day (Poisson) */
  double channels[DW_CH__COUNT];   /* weights of IN_PERSON, POSTAL, ONLINE_PARTIAL, ONLINE_FULL */
  double intake_digitization;      /* DIGITIZED for a non-ONLINE_FULL dossier */
  double intake_digitization_slow; /* of those, share digitized after > 1 working day */
  double result_digitization;      /* results digitized (exact quota, see dw_sim_quota) */
  double result_digitized_later;   /* of digitized results, share via a later RESULT_DIGITIZED */
  double reuse;                    /* at least one DOC_REUSED */
  double paper_in_warehouse;       /* PAPER_REQUESTED with in_warehouse true */
  double paper_not_in_warehouse;   /* PAPER_REQUESTED with in_warehouse false */
  double supplement;               /* supplement request (pause of 1-3 working days) */
  double late;                     /* result/refusal after the due time */
  double apology_when_late;        /* of late dossiers, apology issued before the due time */
  double promise_kept;             /* of apologies, result before the promised time */
  double transfer;                 /* TRANSFERRED to another agency */
  double rejection;                /* REJECTED */
  double withdrawal;               /* WITHDRAWN */
  double payment;                  /* PAYMENT */
  double payment_online;           /* of payments, online */
  double returned;                 /* RETURNED after the result */
  double rating;                   /* RATED after the result */
  double rating_weights[5];        /* weights of scores 1..5 */
  double due_at_share;             /* RECEIVED carries due_at (else only processing_days) */
  int n_procedures;
  dw_sim_procedure procedures[DW_SIM_MAX_PROCEDURES];
  int n_transfer;
  char transfer_agencies[DW_SIM_MAX_TRANSFER][DW_ID_MAX]; /* templates */
} dw_sim_params;

typedef struct dw_sim_commune {
  char code[DW_CODE_MAX]; /* 5-digit administrative-unit code */
  char name[DW_SIM_NAME_MAX];
  dw_sim_params p;
} dw_sim_commune;

typedef struct dw_sim_profile {
  char name[DW_SIM_NAME_MAX];
  char province_code[8];
  char province_name[DW_SIM_NAME_MAX];
  int n_communes;
  dw_sim_commune *communes;
} dw_sim_profile;

/* Built-in defaults of every parameter (used under a profile's "defaults"). */
void dw_sim_params_default(dw_sim_params *p);

/* A generated province of n_communes (1..3321) communes with plausible
 * codes, names and rates that vary from commune to commune (fixed shape,
 * independent of the run's seed). NULL only on OOM. */
dw_sim_profile *dw_sim_profile_generated(int n_communes);

/* Parses a profile from JSON text / a file. NULL on error, reason naming
 * the field (and, for syntax errors, line and column) in errstr. */
dw_sim_profile *dw_sim_profile_parse(const char *json_text, char *errstr, size_t errstr_size);
dw_sim_profile *dw_sim_profile_load(const char *path, char *errstr, size_t errstr_size);

/* Loads deploy/simulate/NAME.json ($DW_SIMULATE_DIR overrides the folder). */
dw_sim_profile *dw_sim_profile_preset(const char *name, char *errstr, size_t errstr_size);

/* Keeps only the first n communes (n < count). */
void dw_sim_profile_limit(dw_sim_profile *prof, int n);

/* Expands an agency template for a commune. */
void dw_sim_agency(const dw_sim_profile *prof, const dw_sim_commune *c, const char *tmpl,
                   char *out, size_t out_size);

void dw_sim_profile_destroy(dw_sim_profile *prof);

/* The province's units file (code,name,type,parent with a header line:
 * the province, its communes and their agencies, the province's agencies,
 * the procedures), appended to b; names of agencies are made from their
 * codes (dw_sim_units.c). 0, or -1 out of memory. `simulate --units-out`
 * writes it; the files in deploy/units are its output for the presets. */
#include "dw_buf.h"
int dw_sim_profile_units_csv(const dw_sim_profile *prof, dw_buf *b);

/* The presets compiled into the binary (deploy/simulate/NAME.json). */
#include "dw_embedded.h"
extern const dw_embedded_file dw_embedded_presets[];

#endif
