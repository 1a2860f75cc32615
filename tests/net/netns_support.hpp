// Test helpers for the namespace tests: a closewise server in namespace b,
// io threads for clients in namespace a, and the rule for a missing permission.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "closewise/error.hpp"
#include "net/fault_support.hpp"
#include "net/netns.hpp"

namespace closewise::net::test {

using side = netns_pair::side;

/// Namespaces are a real component: under CI=true their absence is one failing
/// line; elsewhere a skip, which scripts/test.sh reports (ALLOW_SKIP=1 to pass).
#define REQUIRE_NETNS()                                                       \
  do {                                                                        \
    static const std::string why = netns_unavailable_reason();                \
    if (!why.empty()) {                                                       \
      if (in_ci()) FAIL() << "network namespaces are not available: " << why; \
      GTEST_SKIP() << "network namespaces are not available: " << why;        \
    }                                                                         \
  } while (0)

/// A closewise echo server in namespace b and io threads for clients in a.
/// "blob:N[:tag]" is answered with N bytes of 'b' in one binary message.
struct ns_path {
  explicit ns_path(server_config cfg = {})
      : server_io(nets.fd(side::b)),
        client_io(nets.fd(side::a)),
        owned(std::make_unique<event_server>(server_io.ioc, std::move(cfg))),
        es(*owned) {
    es.on_message_hook = [this](session& s, proto::message_kind k, std::string_view p) {
      book.received(p);
      if (p.rfind("blob:", 0) == 0) {
        (void)s.send_binary(
            std::string(std::stoul(std::string(p.substr(5))), 'b'));  // stoul stops at ':'
      } else {
        (void)s.send(k, p);
      }
    };
    if (!nets.ok()) return;
    if (!server_io.ok() || !client_io.ok()) {
      listen_error = make_error_code(error::invalid_argument);  // setns(2) failed
      return;
    }
    server_io.run_inside([this] { listen_error = es.srv.listen(nets.address(side::b), 0); });
  }
  /// As faulty_path: the server goes while its io thread is held.
  ~ns_path() {
    if (!server_io.ok()) return;  // nothing runs there: no callback can be in flight
    io_hold hold(server_io.ioc);
    owned.reset();
  }
  std::string url() const {
    return "ws://" + nets.address(side::b) + ":" + std::to_string(es.port()) + "/";
  }
  /// connect() from a thread inside namespace a, whichever thread opens the socket.
  template <class C>
  std::error_code connect(C& c) {
    std::error_code ec;
    client_io.run_inside([&] { ec = c.connect(url()); });
    return ec;
  }

  netns_pair nets;  // first: outlives every thread inside it
  ledger book;
  netns_io_thread server_io;
  netns_io_thread client_io;
  std::unique_ptr<event_server> owned;
  event_server& es;
  std::error_code listen_error;
};

}  // namespace closewise::net::test
