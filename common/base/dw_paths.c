/* dw_paths: the installed data folder (see dw_paths.h). */
#include "dw_paths.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *dw_paths_share_dir(void) {
  static char dir[PATH_MAX];
  static int done;
  if (done) return dir[0] ? dir : NULL;
  done = 1;
  const char *env = getenv("DW_DATA_DIR");
  if (env && *env) {
    snprintf(dir, sizeof dir, "%s", env);
    return dir;
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return NULL;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (!slash) return NULL;
  *slash = '\0'; /* PREFIX/bin */
  snprintf(dir, sizeof dir, "%s/../share/dossierwatch", exe);
  char real[PATH_MAX];
  if (!is_dir(dir) || !realpath(dir, real)) {
    dir[0] = '\0';
    return NULL;
  }
  snprintf(dir, sizeof dir, "%s", real);
  return dir;
}

const char *dw_paths_share_sub(const char *sub, char *buf, int bufsize) {
  const char *share = dw_paths_share_dir();
  if (!share) return NULL;
  snprintf(buf, (size_t)bufsize, "%s/%s", share, sub);
  return is_dir(buf) ? buf : NULL;
}

char *dw_read_text_file(const char *path, size_t *lenp, char *err, size_t n) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, n, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 16384, len = 0;
  char *buf = malloc(cap);
  while (buf) {
    if (len + 1 == cap) {
      char *g = realloc(buf, cap * 2);
      if (!g) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = g;
      cap *= 2;
    }
    size_t r = fread(buf + len, 1, cap - 1 - len, f);
    if (r == 0) break;
    len += r;
  }
  int bad = ferror(f);
  fclose(f);
  if (!buf || bad) {
    snprintf(err, n, "%s: %s", path, buf ? "read error" : "out of memory");
    free(buf);
    return NULL;
  }
  buf[len] = '\0';
  if (strlen(buf) != len) {
    snprintf(err, n, "%s: contains a NUL byte at offset %zu", path, strlen(buf));
    free(buf);
    return NULL;
  }
  if (lenp) *lenp = len;
  return buf;
}

FILE *dw_tmpfile(const char *name) {
  const char *dir = getenv("TMPDIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/dossierwatch-%s-XXXXXX", dir && *dir ? dir : "/tmp", name);
  int fd = mkstemp(path);
  if (fd < 0) return NULL;
  unlink(path);
  FILE *f = fdopen(fd, "w+b");
  if (!f) {
    int e = errno;
    close(fd);
    errno = e;
  }
  return f;
}
