/* A PPP client for the test bench: lwIP 2.1.3's PPPoS (the PPP code ESP-IDF's esp_modem
 * runs, derived from pppd) driving the emulator over its tty, as firmware would: the AT
 * dial, LCP/IPCP (with PAP or CHAP if the module asks), then TCP and DNS through lwIP's
 * raw API, or IP packets bridged to a TUN device so kernel programs (curl) use the link;
 * and one of the ways a call ends. Built by the test bench from Debian's lwIP source.
 *
 * Usage: lwip-client TTY [options]; the steps run in the order given.
 *   --dial CMD            the dial command (ATD*99#); --no-setup skips AT, ATE0, AT+CGDCONT
 *   --auth pap|chap --user U --pass P   credentials when the module asks
 *   --echo ADDR:PORT:N    N bytes through a TCP echo server, checked
 *   --get ADDR:PORT:PATH:FILE           an HTTP/1.0 GET into FILE
 *   --dns NAME            a DNS query at the servers IPCP gave
 *   --sleep MS            keep the link MS ms
 *   --escape-ato          +++ (with the guard times), AT+CSQ, ATO
 *   --tun NAME            bridge the link to a TUN device until SIGTERM
 *   --silent              never speak PPP after CONNECT
 *   --timeout S           a TCP step's limit (120)
 *   --end terminate|escape-ath|dtr|none  how the call ends (terminate: LCP)
 *
 * Output, one line each on stdout: "dial <answer>", "up <addr> dns <dns1> <dns2>",
 * "echo ok <n>" or "error echo got <n> of <m>", "get ok <status> <bytes> <ms>",
 * "dns <name> <addr>|fail", "escape OK", "ato <answer>", "tun ready", "error tcp <lwIP
 * err>|timeout", "down <PPP err>" (the link went), "end <what>", then "text <line>" for
 * each line the module sent after that. The exit status is 0 when every step passed. */

#define _GNU_SOURCE /* memmem */
#include "lwip/init.h"
#include "lwip/dns.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/ip_addr.h"
#include "netif/ppp/pppos.h"
#include "netif/ppp/ppp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* lwIP's clock: milliseconds since an uptime of a minute, as on a device that has been
 * up a while (lwIP omits a frame's opening flag when it sent one within 100 ms of its
 * clock's zero). */
static struct timespec t0;
u32_t sys_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return 60000 + (u32_t)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
}
u32_t sys_jiffies(void) { return sys_now(); }

static int tty = -1, tun = -1;
static ppp_pcb *pcb;
static struct netif pppif;
static int ppp_mode = 0, ppp_up = 0, ppp_dead = 0, ppp_err = -1;
static volatile sig_atomic_t stop = 0;
static unsigned char outbuf[1 << 20];
static size_t outlen = 0;

void harness_diag(const char *fmt, ...) {
  /* Not the per-packet lines of the data path (one write each would cost the link more
   * than its PPP): the negotiation's packets and events stay. */
  static const char *quiet[] = {"ppp_input[", "pppos_input[", "pppos_netif_output[", "pppos_write[", NULL};
  for (const char **q = quiet; *q; q++)
    if (strncmp(fmt, *q, strlen(*q)) == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
}

static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(stdout);
}

static void fail(const char *what) {
  say("error %s", what);
  exit(1);
}

/* Output to the tty, never blocking the loop: what the tty does not take now waits. */
static void flush_out(void) {
  while (outlen > 0) {
    ssize_t n = write(tty, outbuf, outlen);
    if (n <= 0) return;
    memmove(outbuf, outbuf + n, outlen - (size_t)n);
    outlen -= (size_t)n;
  }
}

/* Queued, written by the next pump (or at once when `now`). */
static void queue_out(const void *data, size_t len) {
  if (outlen + len > sizeof outbuf) fail("output buffer full");
  memcpy(outbuf + outlen, data, len);
  outlen += len;
}

static void put(const void *data, size_t len) {
  queue_out(data, len);
  flush_out();
}

static u32_t output_cb(ppp_pcb *p, u8_t *data, u32_t len, void *ctx) {
  (void)p;
  (void)ctx;
  queue_out(data, len);
  return len;
}

static void status_cb(ppp_pcb *p, int err, void *ctx) {
  (void)p;
  (void)ctx;
  if (err == PPPERR_NONE) {
    const ip_addr_t *d0 = dns_getserver(0), *d1 = dns_getserver(1);
    char a[16], b[16], c[16];
    strcpy(a, ip4addr_ntoa(netif_ip4_addr(&pppif)));
    strcpy(b, ipaddr_ntoa(d0));
    strcpy(c, ipaddr_ntoa(d1));
    say("up %s dns %s %s", a, b, c);
    ppp_up = 1;
  } else {
    ppp_err = err;
    ppp_dead = 1;
    ppp_up = 0;
  }
}

/* The tty's bytes as lines (the last 64). */
static char line[512];
static size_t linelen = 0;
static char lines[64][512];
static int nlines = 0;

static void pump(int ms);

static void at_bytes(const unsigned char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (b[i] == '\r' || b[i] == '\n') {
      if (linelen > 0) {
        if (nlines == 64) { /* the oldest goes */
          memmove(lines[0], lines[1], sizeof lines[0] * 63);
          nlines--;
        }
        line[linelen] = 0;
        strcpy(lines[nlines++], line);
      }
      linelen = 0;
    } else if (linelen < sizeof line - 1) {
      line[linelen++] = (char)b[i];
    }
  }
}

/* Lines so far were PPP bytes read as text: none is an answer to what comes next. */
static void forget_lines(void) {
  nlines = 0;
  linelen = 0;
}

/* The next AT line within `ms`, or NULL. */
static const char *next_line(int ms) {
  static char got[512];
  u32_t until = sys_now() + (u32_t)ms;
  while (nlines == 0 && sys_now() < until) pump(10);
  if (nlines == 0) return NULL;
  strcpy(got, lines[0]);
  memmove(lines[0], lines[1], sizeof lines[0] * (size_t)(nlines - 1));
  nlines--;
  return got;
}

/* Send `cmd` and wait for a line starting with one of `want` (NULL-ended); the line. */
static const char *at(const char *cmd, const char **want, int ms) {
  if (cmd) put(cmd, strlen(cmd));
  u32_t until = sys_now() + (u32_t)ms;
  for (;;) {
    int left = (int)(until - sys_now());
    if (left <= 0) return NULL;
    const char *l = next_line(left);
    if (!l) return NULL;
    for (const char **w = want; *w; w++)
      if (strncmp(l, *w, strlen(*w)) == 0) return l;
  }
}

static const char *FINAL[] = {"OK", "ERROR", "+CME ERROR", "NO CARRIER", "CONNECT", NULL};

/* IP packets from the PPP link go to the TUN when bridging. */
int harness_ip4_input(struct pbuf *p, struct netif *inp) {
  (void)inp;
  if (tun < 0) return 0;
  unsigned char buf[2048];
  u16_t n = pbuf_copy_partial(p, buf, sizeof buf, 0);
  if (write(tun, buf, n) < 0) { /* dropped, as a full queue would */ }
  pbuf_free(p);
  return 1;
}

static void pump(int ms) {
  struct pollfd fds[2] = {{tty, POLLIN | (outlen ? POLLOUT : 0), 0}, {tun, POLLIN, 0}};
  int n = poll(fds, tun >= 0 ? 2 : 1, ms);
  if (n > 0 && (fds[0].revents & POLLIN)) {
    static unsigned char buf[65536];
    ssize_t r = read(tty, buf, sizeof buf);
    if (r > 0 && !ppp_mode) {
      at_bytes(buf, (size_t)r);
    } else if (r > 0) {
      pppos_input(pcb, buf, (int)r);
      /* Also as text what follows the last flag: the module's NO CARRIER comes after
       * its last frame, often in the same read. */
      const unsigned char *flag = memrchr(buf, 0x7e, (size_t)r);
      size_t from = flag ? (size_t)(flag - buf) + 1 : 0;
      at_bytes(buf + from, (size_t)r - from);
    }
  }
  if (n > 0 && (fds[0].revents & POLLOUT)) flush_out();
  /* Every packet the TUN has now, so the frames for them go out in one write. */
  while (tun >= 0 && n > 0 && (fds[1].revents & POLLIN)) {
    unsigned char buf[2048];
    ssize_t r = read(tun, buf, sizeof buf);
    if (r <= 0) break;
    if (r > 20 && ppp_up && (buf[0] >> 4) == 4) {
      struct pbuf *p = pbuf_alloc(PBUF_IP, (u16_t)r, PBUF_RAM);
      if (p) {
        ip4_addr_t dst;
        memcpy(&dst.addr, buf + 16, 4);
        pbuf_take(p, buf, (u16_t)r);
        pppif.output(&pppif, p, &dst);
        pbuf_free(p);
      }
    }
  }
  sys_check_timeouts();
  flush_out();
}

/* ---- TCP steps through the raw API ---- */
static struct tcp_pcb *conn;
static int tcp_done, tcp_failed;
static size_t want_bytes, got_bytes, sent_bytes;
static FILE *body;
static int headers_done, http_status;
static char head[4096];
static size_t headlen;
static int echo_mode;
static int step_timeout = 120; /* seconds a TCP step may take (--timeout) */

static err_t on_recv(void *arg, struct tcp_pcb *t, struct pbuf *p, err_t err) {
  (void)arg;
  (void)err;
  if (!p) {
    tcp_close(t);
    conn = NULL;
    tcp_done = 1;
    return ERR_OK;
  }
  for (struct pbuf *q = p; q; q = q->next) {
    const unsigned char *d = q->payload;
    size_t n = q->len;
    if (echo_mode) {
      for (size_t i = 0; i < n; i++)
        if (d[i] != (unsigned char)((got_bytes + i) * 7)) tcp_failed = 1;
      got_bytes += n;
    } else if (!headers_done) {
      size_t take = n < sizeof head - headlen ? n : sizeof head - headlen;
      memcpy(head + headlen, d, take);
      headlen += take;
      char *end = memmem(head, headlen, "\r\n\r\n", 4);
      if (end) {
        headers_done = 1;
        sscanf(head, "HTTP/%*s %d", &http_status);
        size_t hl = (size_t)(end - head) + 4;
        fwrite(head + hl, 1, headlen - hl, body);
        got_bytes += headlen - hl;
        if (take < n) {
          fwrite(d + take, 1, n - take, body);
          got_bytes += n - take;
        }
      }
    } else {
      fwrite(d, 1, n, body);
      got_bytes += n;
    }
  }
  tcp_recved(t, p->tot_len);
  pbuf_free(p);
  if (echo_mode && got_bytes >= want_bytes) {
    tcp_close(t);
    conn = NULL;
    tcp_done = 1;
  }
  return ERR_OK;
}

static void send_more(struct tcp_pcb *t) {
  while (echo_mode && sent_bytes < want_bytes && tcp_sndbuf(t) > 0) {
    unsigned char chunk[1024];
    size_t n = want_bytes - sent_bytes;
    if (n > sizeof chunk) n = sizeof chunk;
    if (n > tcp_sndbuf(t)) n = tcp_sndbuf(t);
    for (size_t i = 0; i < n; i++) chunk[i] = (unsigned char)((sent_bytes + i) * 7);
    if (tcp_write(t, chunk, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK) break;
    sent_bytes += n;
  }
  tcp_output(t);
}

static err_t on_sent(void *arg, struct tcp_pcb *t, u16_t len) {
  (void)arg;
  (void)len;
  send_more(t);
  return ERR_OK;
}

static void on_err(void *arg, err_t err) {
  (void)arg;
  if (tcp_done) return; /* the link went after the step was over */
  say("error tcp %d", (int)err);
  conn = NULL;
  tcp_failed = 1;
  tcp_done = 1;
}

static const char *request;

static err_t on_connected(void *arg, struct tcp_pcb *t, err_t err) {
  (void)arg;
  if (err != ERR_OK) return err;
  if (echo_mode)
    send_more(t);
  else {
    tcp_write(t, request, (u16_t)strlen(request), TCP_WRITE_FLAG_COPY);
    tcp_output(t);
  }
  return ERR_OK;
}

static int tcp_run(const char *addr, int port, int timeout_s) {
  ip_addr_t ip;
  if (!ipaddr_aton(addr, &ip)) fail("bad address");
  conn = tcp_new();
  tcp_done = tcp_failed = 0;
  got_bytes = sent_bytes = 0;
  headers_done = 0;
  headlen = 0;
  tcp_recv(conn, on_recv);
  tcp_sent(conn, on_sent);
  tcp_err(conn, on_err);
  if (tcp_connect(conn, &ip, (u16_t)port, on_connected) != ERR_OK) fail("tcp_connect");
  u32_t until = sys_now() + (u32_t)timeout_s * 1000;
  while (!tcp_done && sys_now() < until && !ppp_dead) pump(5);
  if (!tcp_done) {
    say("error tcp timeout");
    return 0;
  }
  return !tcp_failed;
}

/* ---- DNS ---- */
static int dns_state;
static ip_addr_t dns_addr;
static void on_dns(const char *name, const ip_addr_t *ip, void *arg) {
  (void)name;
  (void)arg;
  if (ip) {
    dns_addr = *ip;
    dns_state = 1;
  } else
    dns_state = 2;
}

/* The lines after the call's end (the module's +PPPD: DISCONNECTED), as "text <line>";
 * then exit with `code`. */
static int finish(int code) {
  u32_t t = sys_now() + 300;
  while (sys_now() < t) pump(10);
  for (int i = 0; i < nlines; i++) say("text %s", lines[i]);
  flush_out();
  return code;
}

static void on_signal(int s) {
  (void)s;
  stop = 1;
}

static void raw_tty(int fd, speed_t speed) {
  struct termios t;
  if (tcgetattr(fd, &t) != 0) fail("tcgetattr");
  cfmakeraw(&t);
  cfsetispeed(&t, speed);
  cfsetospeed(&t, speed);
  tcsetattr(fd, TCSANOW, &t);
}

/* +++ after the S12 guard time, and its OK: command state with the call kept. */
static void escape_to_command(void) {
  u32_t t = sys_now() + 1200;
  while (sys_now() < t) pump(5);
  ppp_mode = 0;
  forget_lines();
  put("+++", 3);
  if (!at(NULL, (const char *[]){"OK", NULL}, 3000)) fail("no OK to +++");
}

int main(int argc, char **argv) {
  clock_gettime(CLOCK_MONOTONIC, &t0);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) {
    fprintf(stderr, "usage: %s TTY [options]\n", argv[0]);
    return 2;
  }
  const char *dial = "ATD*99#", *end = "terminate", *user = NULL, *pass = NULL, *tun_name = NULL;
  int setup = 1, auth = PPPAUTHTYPE_NONE, ok = 1, silent_dte = 0;
  tty = open(argv[1], O_RDWR | O_NOCTTY | O_NONBLOCK);
  if (tty < 0) fail("open tty");
  raw_tty(tty, B115200);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  lwip_init();
  /* Pass 1: the dial and the options that shape the link. */
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--dial") && i + 1 < argc) dial = argv[++i];
    else if (!strcmp(argv[i], "--no-setup")) setup = 0;
    else if (!strcmp(argv[i], "--end") && i + 1 < argc) end = argv[++i];
    else if (!strcmp(argv[i], "--user") && i + 1 < argc) user = argv[++i];
    else if (!strcmp(argv[i], "--pass") && i + 1 < argc) pass = argv[++i];
    else if (!strcmp(argv[i], "--tun") && i + 1 < argc) tun_name = argv[++i];
    else if (!strcmp(argv[i], "--silent")) silent_dte = 1;
    else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) step_timeout = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--auth") && i + 1 < argc) {
      const char *a = argv[++i];
      auth = !strcmp(a, "pap") ? PPPAUTHTYPE_PAP : !strcmp(a, "chap") ? PPPAUTHTYPE_CHAP : PPPAUTHTYPE_ANY;
    }
  }
  if (setup) {
    const char *l = NULL;
    for (int tries = 0; tries < 5 && !l; tries++) l = at("AT\r\n", (const char *[]){"OK", NULL}, 1000);
    if (!l) fail("no OK to AT");
    if (!at("ATE0\r\n", FINAL, 3000)) fail("ATE0");
    if (!at("AT+CGDCONT=1,\"IP\",\"internet\"\r\n", FINAL, 3000)) fail("CGDCONT");
  }
  char cmd[256];
  snprintf(cmd, sizeof cmd, "%s\r\n", dial);
  const char *ans = at(cmd, FINAL, 10000);
  say("dial %s", ans ? ans : "(no answer)");
  if (!ans || strncmp(ans, "CONNECT", 7) != 0) return 3;
  if (silent_dte) {
    /* A DTE that never speaks PPP: the module gives up on LCP. */
    const char *l = at(NULL, (const char *[]){"NO CARRIER", NULL}, 60000);
    say("end %s", l ? l : "(nothing)");
    return finish(l ? 0 : 1);
  }
  ppp_mode = 1;
  pcb = pppos_create(&pppif, output_cb, status_cb, NULL);
  if (!pcb) fail("pppos_create");
  ppp_set_usepeerdns(pcb, 1);
  if (auth != PPPAUTHTYPE_NONE) ppp_set_auth(pcb, (u8_t)auth, user ? user : "", pass ? pass : "");
  netif_set_default(&pppif);
  ppp_connect(pcb, 0);
  u32_t until = sys_now() + 20000;
  while (!ppp_up && !ppp_dead && sys_now() < until) pump(5);
  if (!ppp_up) {
    say("down %d", ppp_err);
    ppp_mode = 0;
    const char *l = at(NULL, (const char *[]){"NO CARRIER", NULL}, 5000);
    say("end %s", l ? l : "(nothing)");
    return finish(4);
  }
  /* Pass 2: the steps, in order. */
  for (int i = 2; i < argc && ok && !ppp_dead; i++) {
    if (!strcmp(argv[i], "--echo") && i + 1 < argc) {
      char addr[64];
      int port = 0;
      size_t n = 0;
      if (sscanf(argv[++i], "%63[^:]:%d:%zu", addr, &port, &n) != 3) fail("--echo ADDR:PORT:BYTES");
      echo_mode = 1;
      want_bytes = n;
      if (tcp_run(addr, port, step_timeout) && got_bytes == n) say("echo ok %zu", n);
      else {
        say("error echo got %zu of %zu", got_bytes, n);
        ok = 0;
      }
    } else if (!strcmp(argv[i], "--get") && i + 1 < argc) {
      char addr[64], path[256], file[512];
      int port = 0;
      if (sscanf(argv[++i], "%63[^:]:%d:%255[^:]:%511s", addr, &port, path, file) != 4) fail("--get ADDR:PORT:PATH:FILE");
      static char req[512];
      snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, addr);
      request = req;
      echo_mode = 0;
      body = fopen(file, "wb");
      if (!body) fail("open body file");
      u32_t t = sys_now();
      int r = tcp_run(addr, port, step_timeout);
      fclose(body);
      if (r) say("get ok %d %zu %u", http_status, got_bytes, sys_now() - t);
      else {
        say("error get %zu", got_bytes);
        ok = 0;
      }
    } else if (!strcmp(argv[i], "--dns") && i + 1 < argc) {
      const char *name = argv[++i];
      dns_state = 0;
      err_t e = dns_gethostbyname(name, &dns_addr, on_dns, NULL);
      if (e == ERR_OK) dns_state = 1;
      u32_t t = sys_now() + 10000;
      while (dns_state == 0 && sys_now() < t) pump(5);
      if (dns_state == 1) say("dns %s %s", name, ipaddr_ntoa(&dns_addr));
      else say("dns %s fail", name);
    } else if (!strcmp(argv[i], "--sleep") && i + 1 < argc) {
      u32_t t = sys_now() + (u32_t)atoi(argv[++i]);
      while (sys_now() < t && !ppp_dead) pump(5);
    } else if (!strcmp(argv[i], "--escape-ato")) {
      /* +++ with the guard time, then ATO: the call goes on. */
      escape_to_command();
      say("escape OK");
      const char *l = at("AT+CSQ\r\n", FINAL, 3000);
      l = at("ATO\r\n", FINAL, 3000);
      say("ato %s", l ? l : "(no answer)");
      if (!l || strncmp(l, "CONNECT", 7)) ok = 0;
      ppp_mode = 1;
    }
  }
  if (tun_name) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    strncpy(ifr.ifr_name, tun_name, IFNAMSIZ - 1);
    tun = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
    if (tun < 0 || ioctl(tun, TUNSETIFF, &ifr) < 0) fail("tun");
    say("tun ready");
    while (!stop && !ppp_dead) pump(5);
  }
  if (ppp_dead) {
    ppp_mode = 0;
    say("down %d", ppp_err);
    const char *l = at(NULL, (const char *[]){"NO CARRIER", NULL}, 5000);
    say("end %s", l ? l : "(nothing)");
    return finish(ok ? 0 : 1);
  }
  if (!strcmp(end, "terminate")) {
    ppp_close(pcb, 0);
    u32_t t = sys_now() + 10000;
    while (!ppp_dead && sys_now() < t) pump(5);
    ppp_mode = 0;
    const char *l = at(NULL, (const char *[]){"NO CARRIER", NULL}, 5000);
    say("end %s", l ? l : "(nothing)");
    if (!l) ok = 0;
  } else if (!strcmp(end, "escape-ath")) {
    escape_to_command();
    const char *l = at("ATH\r\n", FINAL, 5000);
    say("end ATH %s", l ? l : "(no answer)");
    if (!l || strcmp(l, "OK")) ok = 0;
  } else if (!strcmp(end, "dtr")) {
    /* pppd's hang-up: speed 0 for a moment. */
    struct termios tio;
    tcgetattr(tty, &tio);
    cfsetispeed(&tio, B0);
    cfsetospeed(&tio, B0);
    tcsetattr(tty, TCSANOW, &tio);
    ppp_mode = 0;
    u32_t t = sys_now() + 500;
    while (sys_now() < t) pump(5);
    raw_tty(tty, B115200);
    const char *l = at(NULL, (const char *[]){"NO CARRIER", NULL}, 5000);
    say("end %s", l ? l : "(nothing)");
    if (!l) ok = 0;
  } else {
    say("end none");
  }
  flush_out();
  return finish(ok ? 0 : 1);
}
