/*
 * berth/peer: a tiny TCP and UDP server for the network tests. To each TCP connection (after its
 * first 16 bytes) and each UDP datagram it answers one line:
 *
 *   peer=<address the socket sees> proxy=<client address of a PROXY protocol v2 header, or -> host=<hostname>
 *
 * so a test can tell which address reached the backend and what a PROXY v2 header said. Built
 * static (no libc in the image). Usage: peer [PORT] (default 9000; TCP and UDP).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static const unsigned char SIG[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static char host[256];

/* The source address of the PROXY v2 header at buf (n bytes), or "-" when there is none. */
static void proxy_source(const unsigned char *buf, size_t n, char *out, size_t outlen) {
  snprintf(out, outlen, "-");
  if (n < 16 || memcmp(buf, SIG, 12) != 0 || (buf[12] >> 4) != 2) return;
  size_t len = ((size_t)buf[14] << 8) | buf[15];
  unsigned fam = buf[13] >> 4;
  if (fam == 1 && len >= 12 && n >= 28) {
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, buf + 16, ip, sizeof ip);
    snprintf(out, outlen, "%s:%u", ip, (unsigned)((buf[24] << 8) | buf[25]));
  } else if (fam == 2 && len >= 36 && n >= 52) {
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, buf + 16, ip, sizeof ip);
    snprintf(out, outlen, "[%s]:%u", ip, (unsigned)((buf[48] << 8) | buf[49]));
  } else {
    snprintf(out, outlen, "invalid");
  }
}

static size_t read_full(int fd, unsigned char *buf, size_t want) {
  size_t got = 0;
  while (got < want) {
    ssize_t r = read(fd, buf + got, want - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  return got;
}

static int listener(int type, int port) {
  int fd = socket(AF_INET, type, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port), .sin_addr.s_addr = htonl(INADDR_ANY)};
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    perror("bind");
    exit(1);
  }
  if (type == SOCK_STREAM && listen(fd, 128) != 0) {
    perror("listen");
    exit(1);
  }
  return fd;
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 9000;
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, exit);
  gethostname(host, sizeof host - 1);
  int tcp = listener(SOCK_STREAM, port), udp = listener(SOCK_DGRAM, port);
  printf("peer: listening on %d (tcp, udp)\n", port);
  fflush(stdout);
  for (;;) {
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(tcp, &rd);
    FD_SET(udp, &rd);
    if (select((tcp > udp ? tcp : udp) + 1, &rd, NULL, NULL, NULL) < 0) continue;
    unsigned char buf[2048];
    char src[80], line[512], peer[INET_ADDRSTRLEN];
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    if (FD_ISSET(udp, &rd)) {
      ssize_t n = recvfrom(udp, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
      if (n > 0) {
        proxy_source(buf, (size_t)n, src, sizeof src);
        inet_ntop(AF_INET, &from.sin_addr, peer, sizeof peer);
        int m = snprintf(line, sizeof line, "peer=%s proxy=%s host=%s\n", peer, src, host);
        sendto(udp, line, (size_t)m, 0, (struct sockaddr *)&from, flen);
      }
    }
    if (FD_ISSET(tcp, &rd)) {
      flen = sizeof from;
      int c = accept(tcp, (struct sockaddr *)&from, &flen);
      if (c < 0) continue;
      struct timeval tv = {.tv_sec = 2};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      size_t n = read_full(c, buf, 16);
      if (n == 16 && memcmp(buf, SIG, 12) == 0) n += read_full(c, buf + 16, ((size_t)buf[14] << 8) | buf[15]);
      proxy_source(buf, n, src, sizeof src);
      inet_ntop(AF_INET, &from.sin_addr, peer, sizeof peer);
      int m = snprintf(line, sizeof line, "peer=%s proxy=%s host=%s\n", peer, src, host);
      if (write(c, line, (size_t)m) < 0) perror("write");
      close(c);
    }
  }
}
