// closewise_echo_floor_uring: the second yardstick of the echo benchmark (see
// floor_echo.cpp), on io_uring instead of epoll. One recv is kept in flight
// per connection; replies go out as one send per batch; all submissions of a
// pass through the completion queue enter the kernel together with one
// io_uring_submit_and_wait(). It shows how much of the per-message kernel
// cost is the syscall boundary rather than loopback TCP itself.
// Usage: closewise_echo_floor_uring [PORT]; with PORT 0 (the default) the
// chosen port is printed on stdout.
#include "floor_frames.hpp"

#include <liburing.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

struct conn : floor_echo::wire_state {
  int fd = -1;
  bool sending = false;             // a send is in flight
  bool recving = false;             // a recv is in flight
  std::vector<unsigned char> wire;  // the bytes of the send in flight
  std::size_t wire_off = 0;
};

// The low three bits of user_data say which operation completed; the rest is
// the connection (aligned to at least 8).
enum : std::uint64_t { op_recv = 1, op_send = 2, op_accept = 3 };

io_uring g_ring;

io_uring_sqe* next_sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&g_ring);
  if (s == nullptr) {  // the submission queue is full: hand it over first
    io_uring_submit(&g_ring);
    s = io_uring_get_sqe(&g_ring);
  }
  return s;
}

void post_accept(int lfd) {
  io_uring_sqe* s = next_sqe();
  io_uring_prep_multishot_accept(s, lfd, nullptr, nullptr, 0);
  io_uring_sqe_set_data64(s, op_accept);
}

void post_recv(conn* c) {
  if (c->in.size() - c->in_len < 4096) c->in.resize(c->in_len + 65536);
  io_uring_sqe* s = next_sqe();
  io_uring_prep_recv(s, c->fd, c->in.data() + c->in_len, c->in.size() - c->in_len, 0);
  io_uring_sqe_set_data64(s, reinterpret_cast<std::uint64_t>(c) | op_recv);
  c->recving = true;
}

void post_send(conn* c) {
  if (c->sending) return;
  if (c->wire_off >= c->wire.size()) {
    if (c->out.empty()) return;
    c->wire.swap(c->out);
    c->out.clear();
    c->wire_off = 0;
  }
  io_uring_sqe* s = next_sqe();
  io_uring_prep_send(s, c->fd, c->wire.data() + c->wire_off, c->wire.size() - c->wire_off,
                     MSG_NOSIGNAL);
  io_uring_sqe_set_data64(s, reinterpret_cast<std::uint64_t>(c) | op_send);
  c->sending = true;
}

// Closes a connection that is closing once nothing of it is in flight.
void maybe_drop(conn* c) {
  if (c->sending || c->recving) return;
  ::close(c->fd);
  delete c;
}

void on_recv(conn* c, int res) {
  c->recving = false;
  if (res <= 0 || c->closing) {
    c->closing = true;
    maybe_drop(c);
    return;
  }
  c->in_len += static_cast<std::size_t>(res);
  bool ok = c->upgraded || floor_echo::handshake(c);
  if (ok && c->upgraded) ok = floor_echo::frames(c);
  if (!ok) {
    c->closing = true;
    maybe_drop(c);
    return;
  }
  post_send(c);
  if (!c->closing) post_recv(c);
}

void on_send(conn* c, int res) {
  c->sending = false;
  if (res < 0) {
    c->closing = true;
    c->out.clear();
    c->wire.clear();
    c->wire_off = 0;
    maybe_drop(c);
    return;
  }
  c->wire_off += static_cast<std::size_t>(res);
  post_send(c);
  if (c->closing) maybe_drop(c);
}

}  // namespace

int main(int argc, char** argv) {
  const auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 0);
  floor_echo::stop_on_signals();
  std::uint16_t bound = 0;
  const int lfd = floor_echo::listen_loopback(port, 0, "closewise_echo_floor_uring", bound);
  if (lfd < 0) return 1;
  const int one = 1;  // TCP_NODELAY on each accepted socket

  // One thread submits and reaps, and task work runs only when it waits.
  io_uring_params p{};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN;
  if (const int rc = io_uring_queue_init_params(4096, &g_ring, &p); rc < 0) {
    std::fprintf(stderr, "closewise_echo_floor_uring: io_uring_queue_init: %s\n",
                 std::strerror(-rc));
    return 1;
  }
  std::printf("%u\n", static_cast<unsigned>(bound));
  std::fflush(stdout);
  post_accept(lfd);
  while (!floor_echo::g_stop) {
    // A signal interrupts the wait with -EINTR, and the loop then sees g_stop.
    io_uring_submit_and_wait(&g_ring, 1);
    io_uring_cqe* cqe = nullptr;
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_for_each_cqe(&g_ring, head, cqe) {
      ++seen;
      const std::uint64_t d = io_uring_cqe_get_data64(cqe);
      const std::uint64_t op = d & 7;
      if (op == op_accept) {
        if (cqe->res >= 0) {
          ::setsockopt(cqe->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto* c = new conn;
          c->fd = cqe->res;
          post_recv(c);
        }
        if (!(cqe->flags & IORING_CQE_F_MORE)) post_accept(lfd);
        continue;
      }
      auto* c = reinterpret_cast<conn*>(d & ~std::uint64_t{7});
      if (op == op_recv) {
        on_recv(c, cqe->res);
      } else {
        on_send(c, cqe->res);
      }
    }
    io_uring_cq_advance(&g_ring, seen);
  }
  io_uring_queue_exit(&g_ring);
  return 0;
}
