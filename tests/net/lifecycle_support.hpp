// Test helpers for the server lifecycle tests (issue 6): a server whose
// events go into channels, raw upgrade requests, and a raised descriptor limit.
#pragma once

#include <sys/resource.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "closewise/net/client.hpp"
#include "closewise/net/server.hpp"
#include "net/net_test_support.hpp"

namespace closewise::net::test {

inline std::string ws_url(std::uint16_t port, std::string_view target = "/") {
  return "ws://127.0.0.1:" + std::to_string(port) + std::string(target);
}

/// A valid upgrade request (RFC 6455 §1.3's sample key) with `extra` header lines.
inline std::string upgrade_request(std::string_view extra = {}) {
  return "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         std::string(extra) + "\r\n";
}

/// A raw TCP client that completed the upgrade and then reads nothing more:
/// it never answers a ping or a close (a dead or hostile peer). `rcvbuf`
/// shrinks its receive buffer so a server fills it quickly.
inline std::optional<raw_tcp> raw_upgraded(std::uint16_t port, int rcvbuf = 0) {
  raw_tcp t;
  if (rcvbuf > 0) {
    // Set before connect so the window is small from the first segment.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    t = raw_tcp(fd);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return std::nullopt;
  } else if (!t.connect(port)) {
    return std::nullopt;
  }
  if (!t.send(upgrade_request())) return std::nullopt;
  const auto resp = t.recv_until("\r\n\r\n");
  if (resp.rfind("HTTP/1.1 101", 0) != 0) return std::nullopt;
  return t;
}

/// Raises RLIMIT_NOFILE to its hard limit; returns the soft limit now in force.
inline rlim_t raise_nofile() {
  rlimit r{};
  ::getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &r);
  ::getrlimit(RLIMIT_NOFILE, &r);
  return r.rlim_cur;
}

/// Counts up and lets a test wait, bounded, until a value is reached.
class counter {
 public:
  void add(std::size_t n = 1) {
    // Notify under the lock (as channel::push does): a waiter may destroy the
    // counter as soon as it sees the value (a TSan race under load).
    std::lock_guard lock(mu_);
    v_ += n;
    cv_.notify_all();
  }
  std::size_t get() const {
    std::lock_guard lock(mu_);
    return v_;
  }
  /// True once the count reached `n` within `timeout`.
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout = wait_limit) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return v_ >= n; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::size_t v_ = 0;
};

/// A closewise server that echoes by default and reports every session event.
struct event_server {
  struct closed {
    std::uint64_t id;
    closewise::close_event ev;
  };
  explicit event_server(boost::asio::io_context& ioc, server_config cfg = {})
      : srv(ioc, std::move(cfg)) {
    srv.on_open([this](session& s) {
      opened.add();
      if (on_open_hook) on_open_hook(s);
    });
    srv.on_message([this](session& s, proto::message_kind k, std::string_view p) {
      if (on_message_hook) {
        on_message_hook(s, k, p);
      } else {
        (void)s.send(k, p);
      }
    });
    srv.on_close([this](session& s, const closewise::close_event& e) {
      // The push comes last: a test may destroy this server once it popped it.
      closed_count.add();
      closes.push({s.id(), e});
    });
  }
  /// Listens on 127.0.0.1 and a free port; false on failure.
  bool listen() { return !srv.listen("127.0.0.1", 0); }
  std::uint16_t port() const { return srv.port(); }
  std::string url(std::string_view target = "/") const { return ws_url(port(), target); }

  std::function<void(session&)> on_open_hook;
  std::function<void(session&, proto::message_kind, std::string_view)> on_message_hook;
  counter opened;
  counter closed_count;
  channel<closed> closes;
  server srv;
};

/// Pops the next client event and checks its type.
inline client_event next_of(channel<client_event>& ch, client_event::type_t type,
                            std::chrono::milliseconds timeout = wait_limit) {
  auto e = ch.pop(timeout);
  EXPECT_TRUE(e.has_value()) << "timed out waiting for client event " << type;
  if (!e) return {client_event::errored, {}, {}, {}, {}, 0};
  EXPECT_EQ(e->type, type) << "code " << to_int(e->close.code) << " " << e->ec.message();
  return *e;
}

}  // namespace closewise::net::test
