/*
** bench_libcurl_floor.c: the floor under any client built on libcurl. N
** sequential POSTs on one keep-alive connection through libcurl alone (two
** request headers, no Lua, no signing), driven either by curl_multi_poll +
** curl_multi_perform (what src/curl_backend.c does) or by
** curl_multi_socket_action with epoll; prints the CPU per request
** (getrusage). Under callgrind it gives the instructions (make
** bench-instructions does the same for the whole client).
**
** usage: bench_libcurl_floor URL N poll|epoll   (URL: the emulator's
**        /model/<id>/invoke; `make bench-floor` starts one)
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <curl/curl.h>

static int epfd;
static long timeout_ms = -1;
static int sock_cb(CURL *e, curl_socket_t s, int what, void *u, void *sp)
{
  struct epoll_event ev = {0};
  (void)e; (void)u;
  ev.data.fd = s;
  if(what == CURL_POLL_REMOVE) { epoll_ctl(epfd, EPOLL_CTL_DEL, s, NULL); curl_multi_assign(u, s, NULL); return 0; }
  ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
  if(!sp) { epoll_ctl(epfd, EPOLL_CTL_ADD, s, &ev); curl_multi_assign(u, s, (void *)1); }
  else epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev);
  return 0;
}
static int timer_cb(CURLM *m, long ms, void *u) { (void)m; (void)u; timeout_ms = ms; return 0; }
static size_t sink(char *p, size_t s, size_t n, void *u) { (void)p; (void)u; return s * n; }

int main(int argc, char **argv)
{
  const char *url; int n, epoll_mode;
  struct rusage r0, r1;
  double user, sys;
  if(argc != 4) { fprintf(stderr, "usage: %s URL N poll|epoll\n", argv[0]); return 2; }
  url = argv[1]; n = atoi(argv[2]); epoll_mode = !strcmp(argv[3], "epoll");
  CURLM *m; CURL *e; int i, running;
  struct curl_slist *h = NULL;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  m = curl_multi_init(); e = curl_easy_init();
  h = curl_slist_append(h, "Content-Type: application/json");
  h = curl_slist_append(h, "Authorization: AWS4-HMAC-SHA256 Credential=AKIAEMULATOREXAMPLE1/20261206/us-east-1/bedrock/aws4_request, SignedHeaders=accept;content-type;host;x-amz-date, Signature=94ebab2b59efadd9d7ae1d30ee501fc805ab28a6e9c2331028df2d143584baa9");
  if(epoll_mode) {
    epfd = epoll_create1(0);
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, m);
    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, timer_cb);
  }
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, "{}");
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  getrusage(RUSAGE_SELF, &r0);
  for(i = 0; i < n; i++) {
    CURLMsg *msg; int left, done = 0;
    curl_multi_add_handle(m, e);
    while(!done) {
      if(epoll_mode) {
        struct epoll_event evs[8]; int k, nev;
        if(timeout_ms == 0) { timeout_ms = -1; curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running); }
        else {
          nev = epoll_wait(epfd, evs, 8, timeout_ms < 0 ? 1000 : (int)timeout_ms);
          if(nev == 0) curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
          for(k = 0; k < nev; k++)
            curl_multi_socket_action(m, evs[k].data.fd, (evs[k].events & EPOLLIN ? CURL_CSELECT_IN : 0) | (evs[k].events & EPOLLOUT ? CURL_CSELECT_OUT : 0), &running);
        }
      } else {
        long t = -1;
        curl_multi_timeout(m, &t);
        if(t != 0) curl_multi_poll(m, NULL, 0, t < 0 ? 1000 : (int)t, NULL);
        curl_multi_perform(m, &running);
      }
      while((msg = curl_multi_info_read(m, &left)))
        if(msg->msg == CURLMSG_DONE) done = 1;
    }
    curl_multi_remove_handle(m, e);
  }
  getrusage(RUSAGE_SELF, &r1);
  user = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1e6 + (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec);
  sys = (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e6 + (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
  printf("libcurl alone (%s): %.1f us CPU per keep-alive POST (%.1f user, %.1f system)\n",
         epoll_mode ? "curl_multi_socket_action + epoll" : "curl_multi_poll + perform",
         (user + sys) / n, user / n, sys / n);
  curl_multi_cleanup(m); curl_easy_cleanup(e); curl_slist_free_all(h);
  curl_global_cleanup();
  return 0;
}
