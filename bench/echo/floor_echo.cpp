// closewise_echo_floor: not a peer, a yardstick. The least a WebSocket echo
// server can do per message on this machine: plain level-triggered epoll, one
// recv() per readiness event, one send() per batch of replies, no library, no
// timeouts, no UTF-8 check, no limits beyond what the benchmark needs. It
// answers the benchmark's own client (bench/echo/loadgen.cpp) and nothing
// else is promised: it exists to show how much of a server's CPU per message
// is the kernel's, so a ratio target can be checked against what is possible.
//
// Frames: masked client frames are unmasked in place and sent back unmasked
// with a server header; a close frame is echoed and the socket is closed
// (server first, like closewise). Usage: closewise_echo_floor [PORT]; with
// PORT 0 (the default) the chosen port is printed on stdout.
#include "floor_frames.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

struct conn : floor_echo::wire_state {
  int fd = -1;
  std::uint32_t events = EPOLLIN;  // what epoll watches for
  std::size_t out_off = 0;         // unsent output is [out_off, out.size())
};

void drop(int ep, conn* c) {
  ::epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, nullptr);
  ::close(c->fd);
  delete c;
}

// Sends what is queued; false when the connection is gone.
bool flush(int ep, conn* c) {
  while (c->out_off < c->out.size()) {
    const ssize_t n =
        ::send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      return false;
    }
    c->out_off += static_cast<std::size_t>(n);
  }
  const bool pending = c->out_off < c->out.size();
  if (!pending) {
    c->out.clear();
    c->out_off = 0;
    if (c->closing) return false;
  }
  const std::uint32_t want =
      (c->closing ? 0u : std::uint32_t{EPOLLIN}) | (pending ? std::uint32_t{EPOLLOUT} : 0u);
  if (want != c->events) {
    epoll_event ev{};
    ev.events = want;
    ev.data.ptr = c;
    ::epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->events = want;
  }
  return true;
}

// One recv() per readiness event; false when the connection is gone.
bool on_readable(conn* c) {
  if (c->in.size() - c->in_len < 4096) c->in.resize(c->in_len + 65536);
  const ssize_t n = ::recv(c->fd, c->in.data() + c->in_len, c->in.size() - c->in_len, 0);
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  if (n == 0) return false;
  c->in_len += static_cast<std::size_t>(n);
  if (!c->upgraded && !floor_echo::handshake(c)) return false;
  return !c->upgraded || floor_echo::frames(c);
}

}  // namespace

int main(int argc, char** argv) {
  const auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 0);
  floor_echo::stop_on_signals();
  std::uint16_t bound = 0;
  const int lfd = floor_echo::listen_loopback(port, SOCK_NONBLOCK, "closewise_echo_floor", bound);
  if (lfd < 0) return 1;
  const int one = 1;  // TCP_NODELAY on each accepted socket
  std::printf("%u\n", static_cast<unsigned>(bound));
  std::fflush(stdout);

  const int ep = ::epoll_create1(0);
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.ptr = nullptr;  // the listener
  ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
  std::vector<epoll_event> evs(256);
  while (!floor_echo::g_stop) {
    const int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 500);
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<conn*>(evs[i].data.ptr);
      if (c == nullptr) {
        for (;;) {
          const int fd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
          if (fd < 0) break;
          ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto* nc = new conn;
          nc->fd = fd;
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.ptr = nc;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        }
        continue;
      }
      bool alive = true;
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) alive = !c->closing && on_readable(c);
      if (alive) alive = flush(ep, c);
      if (!alive) drop(ep, c);
    }
  }
  return 0;
}
