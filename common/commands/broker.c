/* broker: `dossierwatch broker` hosts librdkafka's mock Kafka cluster on
 * loopback so that every other command (and kcat) can run without a real
 * Kafka. The cluster lives inside an otherwise idle producer handle; we
 * create the four dossierwatch topics up front, publish the bootstrap address
 * (stdout and, atomically, a file that scripts wait for), then serve until
 * SIGTERM/SIGINT. A small line protocol on stdin or a FIFO lets fault tests
 * take brokers down and up while clients are connected. */
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dw_cli.h"
#include "dw_log.h"
#include "dw_commands.h"

#define CMD "broker"

#define BROKER_DESCRIPTION                                                  \
  "Hosts an embedded Kafka-protocol cluster (librdkafka mock cluster) on\n"  \
  "127.0.0.1, creates the dossierwatch topics and prints the bootstrap\n"    \
  "address as the only line on stdout. Runs until SIGTERM or SIGINT. The\n"  \
  "bootstrap file appears complete or not at all and is removed on exit;\n"  \
  "a FIFO created by --control is removed on exit."
#define BROKER_EPILOG                                                                   \
  "topics (replication factor min(3, brokers)): topic.events, topic.dlq,\n"           \
  "topic.alerts, topic.aggregates (defaults dossier.events, dossier.events.dlq,\n"    \
  "dossier.alerts, compliance.aggregates).\n"                                          \
  "\n"                                                                                 \
  "control lines (stdin or --control FIFO), one per line; each is\n"                  \
  "acknowledged on stderr with \"broker: ok: LINE\" or \"broker: error: ...\":\n"      \
  "  down ID              disconnect broker ID and refuse connections (-1 = all)\n"   \
  "  up ID                accept connections on broker ID again (-1 = all)\n"         \
  "  rtt ID MS            delay broker ID's responses by MS milliseconds\n"           \
  "  leader TOPIC P ID    make broker ID the leader of TOPIC partition P\n"           \
  "                       (-1: leaderless)\n"                                          \
  "  stop                 shut down as on SIGTERM"

/* Parses a whole decimal integer in [min, max]. */
static int parse_int(const char *s, long min, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max) return -1;
  *out = v;
  return 0;
}

/* Writes the address to path via a temp file + rename, so a script polling
 * for the file never reads a partial line. */
static int write_bootstrap_file(const char *path, const char *addr) {
  size_t n = strlen(path) + 32;
  char *tmp = malloc(n);
  if (!tmp) return -1;
  snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f) {
    DW_LOG_ERR("cannot write bootstrap file %s (temp %s): %s", path, tmp, strerror(errno));
    free(tmp);
    return -1;
  }
  int bad = fprintf(f, "%s\n", addr) < 0;
  bad |= fflush(f) != 0;
  bad |= fsync(fileno(f)) != 0;
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path) != 0) {
    DW_LOG_ERR("cannot write %s: %s", path, strerror(errno));
    unlink(tmp);
    free(tmp);
    return -1;
  }
  free(tmp);
  return 0;
}

/* Executes one control line; returns 1 when it asks us to stop. */
static int control_line(rd_kafka_mock_cluster_t *mc, char *line) {
  char *save = NULL, *argv[5] = {0};
  int argc = 0;
  for (char *t = strtok_r(line, " \t\r\n", &save); t && argc < 5; t = strtok_r(NULL, " \t\r\n", &save))
    argv[argc++] = t;
  if (argc == 0 || argv[0][0] == '#') return 0;
  long id, v, p;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  char echo[512];
  snprintf(echo, sizeof echo, "%s%s%s%s%s%s%s", argv[0], argc > 1 ? " " : "", argc > 1 ? argv[1] : "",
           argc > 2 ? " " : "", argc > 2 ? argv[2] : "", argc > 3 ? " " : "", argc > 3 ? argv[3] : "");
  if (strcmp(argv[0], "stop") == 0 && argc == 1) {
    fprintf(stderr, "broker: ok: stop\n");
    return 1;
  } else if ((strcmp(argv[0], "down") == 0 || strcmp(argv[0], "up") == 0) && argc == 2 &&
             parse_int(argv[1], -1, 1000000, &id) == 0) {
    err = argv[0][0] == 'd' ? rd_kafka_mock_broker_set_down(mc, (int32_t)id)
                            : rd_kafka_mock_broker_set_up(mc, (int32_t)id);
  } else if (strcmp(argv[0], "rtt") == 0 && argc == 3 && parse_int(argv[1], -1, 1000000, &id) == 0 &&
             parse_int(argv[2], 0, 3600000, &v) == 0) {
    err = rd_kafka_mock_broker_set_rtt(mc, (int32_t)id, (int)v);
  } else if (strcmp(argv[0], "leader") == 0 && argc == 4 && parse_int(argv[2], 0, 1000000, &p) == 0 &&
             parse_int(argv[3], -1, 1000000, &id) == 0) {
    err = rd_kafka_mock_partition_set_leader(mc, argv[1], (int32_t)p, (int32_t)id);
  } else {
    fprintf(stderr, "broker: error: bad control line '%s' (see dossierwatch broker --help)\n", echo);
    return 0;
  }
  if (err)
    fprintf(stderr, "broker: error: %s: %s\n", echo, rd_kafka_err2str(err));
  else
    fprintf(stderr, "broker: ok: %s\n", echo);
  return 0;
}

/* Line assembly for a non-blocking control fd. */
typedef struct ctl_buf {
  char data[1024];
  size_t len;
} ctl_buf;

/* Reads what is available; returns -1 on EOF/error (stop polling this fd),
 * 1 when a "stop" line arrived, else 0. */
static int control_read(rd_kafka_mock_cluster_t *mc, int fd, ctl_buf *b) {
  ssize_t r = read(fd, b->data + b->len, sizeof b->data - 1 - b->len);
  if (r < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
  if (r == 0) return -1;
  b->len += (size_t)r;
  int stop = 0;
  char *nl;
  while ((nl = memchr(b->data, '\n', b->len))) {
    *nl = 0;
    stop |= control_line(mc, b->data);
    size_t used = (size_t)(nl - b->data) + 1;
    memmove(b->data, nl + 1, b->len - used);
    b->len -= used;
  }
  if (b->len == sizeof b->data - 1) { /* overlong line: drop it */
    fprintf(stderr, "broker: error: control line too long, ignored\n");
    b->len = 0;
  }
  return stop;
}

/* Installed only so that a stop signal interrupts ppoll() instead of taking
 * the default action (termination without cleanup). */
static void on_stop_signal(int sig) { (void)sig; }

/* What the command holds while it serves, released by host_stop. */
typedef struct host {
  rd_kafka_t *rk;
  rd_kafka_mock_cluster_t *mc;
  int ctl_fd, created_fifo, wrote_file;
  sigset_t oldmask;
  struct sigaction old_sa[3];
} host;

/* Block the stop signals before librdkafka starts its threads (they
 * inherit the mask), so the signals reach only our ppoll() in serve. */
static void block_stop_signals(host *h) {
  sigset_t stopsigs;
  sigemptyset(&stopsigs);
  sigaddset(&stopsigs, SIGTERM);
  sigaddset(&stopsigs, SIGINT);
  sigaddset(&stopsigs, SIGHUP);
  sigprocmask(SIG_BLOCK, &stopsigs, &h->oldmask);
  struct sigaction sa = {.sa_handler = on_stop_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, &h->old_sa[0]);
  sigaction(SIGINT, &sa, &h->old_sa[1]);
  sigaction(SIGHUP, &sa, &h->old_sa[2]);
  signal(SIGPIPE, SIG_IGN);
}

/* --control: creates the FIFO if missing and opens it. 0, or -1 after
 * logging the reason. */
static int open_control_fifo(host *h, const char *path) {
  if (mkfifo(path, 0600) == 0)
    h->created_fifo = 1;
  else if (errno != EEXIST) {
    DW_LOG_ERR("cannot create control FIFO %s: %s", path, strerror(errno));
    return -1;
  }
  /* O_RDWR: we are also a writer, so the FIFO never reports EOF when a
   * client closes it, and writers never block waiting for us to open. */
  h->ctl_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (h->ctl_fd < 0) {
    DW_LOG_ERR("cannot open control FIFO %s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

/* The host handle, the mock cluster and the four topics. 0, or -1 after
 * logging the reason. */
static int start_cluster(host *h, const dw_config *cfg, int brokers, int partitions, int replication) {
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* This handle only hosts the cluster; keep it quiet and unconnected. */
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  h->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!h->rk) {
    rd_kafka_conf_destroy(conf);
    DW_LOG_ERR("cannot create the host Kafka handle: %s", errstr);
    return -1;
  }
  h->mc = rd_kafka_mock_cluster_new(h->rk, brokers);
  if (!h->mc) {
    DW_LOG_ERR("cannot create the mock cluster with %d brokers (no free loopback ports?)", brokers);
    return -1;
  }
  static const char *const topic_keys[] = {"topic.events", "topic.dlq", "topic.alerts", "topic.aggregates"};
  for (size_t i = 0; i < sizeof topic_keys / sizeof topic_keys[0]; i++) {
    const char *topic = dw_config_get(cfg, topic_keys[i]);
    if (!topic || !*topic) {
      DW_LOG_ERR("key '%s' is empty", topic_keys[i]);
      return -1;
    }
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(h->mc, topic, partitions, replication);
    if (err) {
      DW_LOG_ERR("cannot create topic '%s' (%s): %s", topic, topic_keys[i], rd_kafka_err2str(err));
      return -1;
    }
  }
  return 0;
}

/* Serves until a stop signal or a "stop" control line, executing control
 * lines from the FIFO, else stdin (unless use_stdin is false). 0, or -1
 * after logging the reason. */
static int serve(host *h, bool use_stdin) {
  sigset_t waitmask = h->oldmask;
  sigdelset(&waitmask, SIGTERM);
  sigdelset(&waitmask, SIGINT);
  sigdelset(&waitmask, SIGHUP);
  ctl_buf buf = {.len = 0};
  int in_fd = h->ctl_fd >= 0 ? h->ctl_fd : (use_stdin ? STDIN_FILENO : -1);
  if (in_fd == STDIN_FILENO) fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
  for (;;) {
    struct pollfd pfd = {.fd = in_fd, .events = POLLIN};
    /* A signal interrupts ppoll (EINTR): that is our stop request. The
     * handler itself does nothing; ppoll unblocks the signals atomically. */
    int n = ppoll(&pfd, in_fd >= 0 ? 1 : 0, NULL, &waitmask);
    if (n < 0) {
      if (errno == EINTR) return 0;
      DW_LOG_ERR("poll: %s", strerror(errno));
      return -1;
    }
    if (n > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
      int r = control_read(h->mc, in_fd, &buf);
      if (r == 1) return 0;
      if (r < 0) in_fd = -1; /* stdin closed: keep serving without control */
    }
  }
}

/* Undoes what was done, in reverse: the cluster, the files we made, the
 * signal dispositions and mask. */
static void host_stop(host *h, const char *bootstrap_file, const char *control_path) {
  if (h->mc) rd_kafka_mock_cluster_destroy(h->mc);
  if (h->rk) rd_kafka_destroy(h->rk);
  if (h->wrote_file) unlink(bootstrap_file);
  if (h->ctl_fd >= 0) close(h->ctl_fd);
  if (h->created_fifo) unlink(control_path);
  sigaction(SIGTERM, &h->old_sa[0], NULL);
  sigaction(SIGINT, &h->old_sa[1], NULL);
  sigaction(SIGHUP, &h->old_sa[2], NULL);
  sigprocmask(SIG_SETMASK, &h->oldmask, NULL);
}

/* Everything after the options. The exit code. */
static int run_broker(const dw_config *cfg, const char *bootstrap_file, const char *control_path, bool use_stdin) {
  int brokers = (int)dw_config_get_int(cfg, "broker.brokers");
  int partitions = (int)dw_config_get_int(cfg, "broker.partitions");
  int replication = brokers < 3 ? brokers : 3;
  host h = {.ctl_fd = -1};
  block_stop_signals(&h);
  int rc = DW_EXIT_FAIL;
  if (control_path && open_control_fifo(&h, control_path)) goto done;
  if (start_cluster(&h, cfg, brokers, partitions, replication)) goto done;
  const char *addr = rd_kafka_mock_cluster_bootstraps(h.mc);
  if (bootstrap_file) {
    if (write_bootstrap_file(bootstrap_file, addr)) goto done;
    h.wrote_file = 1;
  }
  printf("%s\n", addr);
  fflush(stdout);
  fprintf(stderr, "broker: %d brokers, %d partitions per topic, replication %d, bootstrap %s\n", brokers,
          partitions, replication, addr);
  if (serve(&h, use_stdin)) goto done;
  fprintf(stderr, "broker: stopping\n");
  rc = DW_EXIT_OK;
done:
  host_stop(&h, bootstrap_file, control_path);
  return rc;
}

int dw_cmd_broker(int argc, char **argv) {
  const char *bootstrap_file = NULL, *control_path = NULL;
  bool no_stdin = false;
  const dw_opt opts[] = {
    {"brokers", DW_OPT_CONF, NULL, "N", "mock brokers", "broker.brokers"},
    {"partitions", DW_OPT_CONF, NULL, "N", "partitions per topic", "broker.partitions"},
    {"bootstrap-file", DW_OPT_STR, &bootstrap_file, "FILE", "also write the bootstrap address to FILE (atomically)", NULL},
    {"control", DW_OPT_STR, &control_path, "FIFO", "read control lines from FIFO (created if missing) instead of stdin", NULL},
    {"no-stdin", DW_OPT_FLAG, &no_stdin, NULL, "do not read control lines from stdin", NULL},
    {0},
  };
  const dw_command_spec spec = {CMD, "[OPTIONS]", BROKER_DESCRIPTION, opts, 0, 0, 0, BROKER_EPILOG};
  dw_cli *cli = dw_cli_new();
  if (!cli) {
    DW_LOG_ERR("out of memory");
    return DW_EXIT_FAIL;
  }
  int rc = dw_cli_run(cli, &spec, argc, argv, NULL, NULL);
  if (rc < 0) rc = run_broker(dw_cli_config(cli), bootstrap_file, control_path, !no_stdin);
  dw_cli_destroy(cli);
  return rc;
}
