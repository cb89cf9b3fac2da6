/*
 * lab-probe: measure, from the lab's client namespace, how long a VIP is unreachable.
 *
 *   lab-probe http VIP PORT INTERVAL_MS DURATION_S [TIMEOUT_MS]
 *       Every INTERVAL_MS, a new TCP connection and "GET /"; one line per attempt:
 *       "<unix time, ms> ok <first line of the body>" or "<unix time, ms> fail <why>".
 *   lab-probe hold VIP PORT INTERVAL_MS DURATION_S [TIMEOUT_MS]
 *       One TCP connection (to an echo service) for the whole run; every INTERVAL_MS one
 *       byte, then waits for it to come back: "<time> ok <round trip ms>" per byte, or
 *       "<time> fail <why>" when the connection breaks (then the run ends). The last line
 *       is "<time> end survived <bytes>" or "<time> end broken <bytes>".
 *
 * Why C, compiled statically on the host: under TCG every process start in the guest
 * costs about 65 ms, so a shell loop of wget could not see a sub-second outage. One
 * process, no libraries, nothing to copy but this binary.
 *
 * The time printed is when the attempt started (CLOCK_REALTIME, for humans and for lining
 * up with other logs); the schedule runs on CLOCK_MONOTONIC. An attempt that takes longer
 * than the interval delays the next one; attempts never overlap.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void report(long long at, const char *status, const char *detail) {
    printf("%lld.%03lld %s %s\n", at / 1000, at % 1000, status, detail);
    fflush(stdout); /* the caller reads the file while we run; a line is the unit */
}

static void sleep_until(long long deadline) {
    long long left = deadline - now_ms(CLOCK_MONOTONIC);
    if (left > 0) {
        struct timespec ts = {left / 1000, (left % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Wait for events on fd until the monotonic deadline: 1 ready, 0 timed out, -1 error. */
static int wait_for(int fd, short events, long long deadline) {
    struct pollfd p = {fd, events, 0};
    for (;;) {
        long long left = deadline - now_ms(CLOCK_MONOTONIC);
        if (left <= 0)
            return 0;
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* A connected non-blocking socket, or -1 with why[] filled in. */
static int connect_to(const struct sockaddr_in *to, long long deadline, char *why, size_t size) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, size, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* one byte must go at once */
    if (connect(fd, (const struct sockaddr *)to, sizeof *to) < 0 && errno != EINPROGRESS) {
        snprintf(why, size, "connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    int ready = wait_for(fd, POLLOUT, deadline);
    int error = 0;
    socklen_t length = sizeof error;
    if (ready == 1)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (ready != 1 || error) {
        snprintf(why, size, "connect: %s", ready == 0 ? "timed out" : strerror(error ? error : errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Close without TIME_WAIT: hundreds of probes a minute must not pile up sockets. */
static void close_now(int fd) {
    struct linger off = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &off, sizeof off);
    close(fd);
}

static void http_attempt(const struct sockaddr_in *to, const char *host, long long timeout_ms) {
    long long at = now_ms(CLOCK_REALTIME);
    long long deadline = now_ms(CLOCK_MONOTONIC) + timeout_ms;
    char why[256], response[4096], request[256];
    int fd = connect_to(to, deadline, why, sizeof why);
    if (fd < 0) {
        report(at, "fail", why);
        return;
    }
    int length = snprintf(request, sizeof request, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", host);
    size_t got = 0;
    if (send(fd, request, (size_t)length, MSG_NOSIGNAL) != length) {
        snprintf(why, sizeof why, "send: %s", strerror(errno));
        goto failed;
    }
    for (;;) { /* HTTP/1.0: the server closes when the body is complete */
        int ready = wait_for(fd, POLLIN, deadline);
        if (ready != 1) {
            snprintf(why, sizeof why, "read: %s", ready == 0 ? "timed out" : strerror(errno));
            goto failed;
        }
        ssize_t n = recv(fd, response + got, sizeof response - 1 - got, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0) {
            snprintf(why, sizeof why, "read: %s", strerror(errno));
            goto failed;
        }
        got += (size_t)n;
        if (n == 0 || got == sizeof response - 1)
            break;
    }
    response[got] = '\0';
    char *body = strstr(response, "\r\n\r\n");
    if (strncmp(response, "HTTP/1.", 7) != 0 || strncmp(response + 8, " 200", 4) != 0 || body == NULL) {
        response[strcspn(response, "\r\n")] = '\0';
        snprintf(why, sizeof why, "http: %.60s", got ? response : "(empty answer)");
        goto failed;
    }
    body += 4;
    body[strcspn(body, "\r\n")] = '\0';
    close_now(fd);
    report(at, "ok", body);
    return;
failed:
    close_now(fd);
    report(at, "fail", why);
}

static int run_http(const struct sockaddr_in *to, const char *host, long long interval, long long end,
                    long long timeout) {
    for (long long next = now_ms(CLOCK_MONOTONIC); next < end; next += interval) {
        sleep_until(next);
        http_attempt(to, host, timeout);
        long long now = now_ms(CLOCK_MONOTONIC);
        if (next + interval < now)
            next = now - interval; /* late: start the next attempt now, do not catch up */
    }
    return 0;
}

static int run_hold(const struct sockaddr_in *to, long long interval, long long end, long long timeout) {
    char why[256], detail[64];
    long long sent = 0;
    int fd = connect_to(to, now_ms(CLOCK_MONOTONIC) + timeout, why, sizeof why);
    if (fd < 0) {
        report(now_ms(CLOCK_REALTIME), "fail", why);
        report(now_ms(CLOCK_REALTIME), "end", "broken 0");
        return 1;
    }
    for (long long next = now_ms(CLOCK_MONOTONIC); next < end; next += interval) {
        sleep_until(next);
        long long at = now_ms(CLOCK_REALTIME), started = now_ms(CLOCK_MONOTONIC);
        char byte = (char)('a' + sent % 26), echo = 0;
        if (send(fd, &byte, 1, MSG_NOSIGNAL) != 1) {
            snprintf(why, sizeof why, "send: %s", strerror(errno));
            goto broken;
        }
        /* No timeout per byte: TCP retransmits through a short outage, and whether the
         * connection lives on afterwards is the question. The run's end bounds the wait. */
        for (;;) {
            int ready = wait_for(fd, POLLIN, end + timeout);
            if (ready != 1) {
                snprintf(why, sizeof why, "read: %s", ready == 0 ? "no echo before the end" : strerror(errno));
                goto broken;
            }
            ssize_t n = recv(fd, &echo, 1, 0);
            if (n == 1)
                break;
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            snprintf(why, sizeof why, "read: %s", n == 0 ? "closed by peer" : strerror(errno));
            goto broken;
        }
        if (echo != byte) {
            snprintf(why, sizeof why, "echo: sent %c, got %c", byte, echo);
            goto broken;
        }
        sent++;
        snprintf(detail, sizeof detail, "%lld", now_ms(CLOCK_MONOTONIC) - started);
        report(at, "ok", detail);
        long long now = now_ms(CLOCK_MONOTONIC);
        if (next + interval < now)
            next = now - interval;
    }
    close_now(fd);
    snprintf(detail, sizeof detail, "survived %lld", sent);
    report(now_ms(CLOCK_REALTIME), "end", detail);
    return 0;
broken:
    report(now_ms(CLOCK_REALTIME), "fail", why);
    close_now(fd);
    snprintf(detail, sizeof detail, "broken %lld", sent);
    report(now_ms(CLOCK_REALTIME), "end", detail);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 6 || argc > 7 || (strcmp(argv[1], "http") != 0 && strcmp(argv[1], "hold") != 0)) {
        fprintf(stderr, "usage: lab-probe http|hold VIP PORT INTERVAL_MS DURATION_S [TIMEOUT_MS]\n");
        return 2;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[3]))};
    long long interval = atoll(argv[4]), duration = atoll(argv[5]) * 1000;
    /* Default timeout: long enough for a slow TCG guest, short enough to see each gap. */
    long long timeout = argc == 7 ? atoll(argv[6]) : (interval > 250 ? interval : 250);
    if (inet_pton(AF_INET, argv[2], &to.sin_addr) != 1 || to.sin_port == 0 || interval <= 0 || duration <= 0 ||
        timeout <= 0) {
        fprintf(stderr, "lab-probe: bad VIP, port, interval, duration or timeout\n");
        return 2;
    }
    long long end = now_ms(CLOCK_MONOTONIC) + duration;
    if (strcmp(argv[1], "http") == 0)
        return run_http(&to, argv[2], interval, end, timeout);
    return run_hold(&to, interval, end, timeout);
}
