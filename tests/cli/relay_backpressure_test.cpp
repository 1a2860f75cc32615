// net::relay (the library piece of `closewise proxy`): a slow reader on one
// side stops the relay reading the other side, so the proxy's memory stays
// bounded, and nothing is lost once the reader catches up.
#include "closewise/net/relay.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "cli/proxy_support.hpp"

using namespace closewise;
using namespace closewise::test;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t msg_size = 64 * 1024;
// More than loopback's socket buffers can absorb on two hops (tcp_wmem and
// tcp_rmem autotune up to a few MiB each), so the relay must push back.
constexpr int msg_count = 400;
constexpr std::size_t high_water = 256 * 1024;

/// Polls `f` every millisecond until it holds or `timeout` passes; `each`
/// runs at every poll (to sample a value).
template <class F, class G>
bool poll_until(F f, G each, std::chrono::seconds timeout = 20s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!f()) {
    each();
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

struct relay_rig {
  io_thread io;
  net::server upstream{io.ioc, big_buffers<net::server_config>()};
  net::server front{io.ioc, net::server_config{}};
  std::unique_ptr<net::relay> rel;
  std::shared_ptr<net::session> up_session;  // set on the io thread, read after open
  std::atomic<int> up_received{0};
  std::atomic<bool> up_open{false};
  std::string url;

  template <class C>
  static C big_buffers() {
    C c;
    c.max_buffered = std::size_t{64} << 20;
    return c;
  }

  relay_rig() {
    upstream.on_open([this](net::session& s) {
      up_session = s.shared();
      if (s.request().target == "/flood") {
        const std::string m(msg_size, 'u');
        for (int i = 0; i < msg_count; ++i) EXPECT_FALSE(s.send_binary(m));
      } else {
        s.pause_reading();  // "/slow": an upstream that does not read
      }
      up_open = true;
    });
    upstream.on_message([this](net::session&, proto::message_kind, std::string_view m) {
      EXPECT_EQ(m.size(), msg_size);
      ++up_received;
    });
    EXPECT_FALSE(upstream.listen("127.0.0.1", 0));
    net::relay_config rc;
    rc.upstream = "ws://127.0.0.1:" + std::to_string(upstream.port());
    rc.high_water = high_water;
    rel = std::make_unique<net::relay>(io.ioc, front, rc);
    EXPECT_FALSE(rel->validate());
    EXPECT_FALSE(front.listen("127.0.0.1", 0));
    url = "ws://127.0.0.1:" + std::to_string(front.port());
  }
  ~relay_rig() { (void)front.shutdown_and_wait({}); }
};

}  // namespace

TEST(relay, a_slow_client_pauses_the_upstream_and_bounds_the_proxys_buffer) {
  relay_rig rig;
  net::client_config cfg;
  probe_client c(rig.io.ioc, cfg);
  c.start(rig.url + "/flood", [](net::client& cl) { cl.pause_reading(); });
  ASSERT_EQ(c.open_f.wait_for(10s), std::future_status::ready);
  std::size_t most_buffered = 0;
  auto sample = [&] {
    for (const auto& s : rig.front.sessions())
      most_buffered = std::max(most_buffered, s->buffered_amount());
  };
  ASSERT_TRUE(poll_until([&] { return rig.rel->stats().upstream_pauses >= 1; }, sample))
      << "the relay never stopped reading the upstream";
  // Sample on while the client does not read: the pause holds the buffer.
  for (int i = 0; i < 200; ++i) {
    sample();
    std::this_thread::sleep_for(1ms);
  }
  // Above high_water by at most the message that crossed it (and its header).
  EXPECT_LE(most_buffered, high_water + msg_size + 64);
  EXPECT_LT(rig.rel->stats().to_client, static_cast<std::uint64_t>(msg_count));
  c.c.resume_reading();
  ASSERT_TRUE(poll_until([&] { return rig.rel->stats().to_client == msg_count; }, sample));
  EXPECT_LE(most_buffered, high_water + msg_size + 64);
  EXPECT_FALSE(rig.up_session->close(close_code::normal, "done"));
  const close_event ev = c.wait_close();
  EXPECT_EQ(to_int(ev.code), 1000);
  EXPECT_EQ(ev.reason, "done");
  EXPECT_EQ(c.messages.size(), static_cast<std::size_t>(msg_count));  // nothing lost
  EXPECT_EQ(rig.rel->stats().dropped, 0u);
}

TEST(relay, a_slow_upstream_pauses_the_client) {
  relay_rig rig;
  probe_client c(rig.io.ioc, relay_rig::big_buffers<net::client_config>());
  c.start(rig.url + "/slow", [](net::client& cl) {
    const std::string m(msg_size, 'c');
    for (int i = 0; i < msg_count; ++i) EXPECT_FALSE(cl.send_binary(m));
  });
  ASSERT_EQ(c.open_f.wait_for(10s), std::future_status::ready);
  ASSERT_TRUE(poll_until([&] { return rig.rel->stats().client_pauses >= 1; }, [] {}))
      << "the relay never stopped reading the client";
  EXPECT_LT(rig.up_received.load(), msg_count);
  ASSERT_TRUE(rig.up_open.load());
  rig.up_session->resume_reading();
  ASSERT_TRUE(poll_until([&] { return rig.up_received.load() == msg_count; }, [] {}));
  EXPECT_EQ(rig.rel->stats().to_upstream, static_cast<std::uint64_t>(msg_count));
  EXPECT_FALSE(c.c.close(close_code::normal, "bye"));
  EXPECT_EQ(to_int(c.wait_close().code), 1000);
}
