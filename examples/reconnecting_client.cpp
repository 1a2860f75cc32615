// A client that reconnects by close code, with a custom policy and no lost messages.
// Usage: example_reconnecting_client ws://127.0.0.1:9000/
#include <closewise/net/reconnecting_client.hpp>
#include <closewise/policy/presets.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;
namespace cw = closewise;

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  cw::net::reconnecting_client_config cfg;
  cfg.policy = *cw::policy::preset("default");
  cfg.policy.max_attempts = 10;
  cfg.policy.backoff = cw::policy::full_jitter{250ms, 250ms, 10s};  // base, floor, cap
  // Our server uses 4001 for "session replaced": never come back after it.
  cfg.policy.codes.push_back(
      {4001, 4001, {cw::reconnect_action::stop, {}, {}, {}, "session replaced"}});
  cfg.heartbeat = {10s, 5s};
  cfg.queue = {1000, 1 << 20, cw::net::overflow_policy::reject};

  boost::asio::io_context ioc;
  cw::net::reconnecting_client c(ioc, cfg);
  c.on_reconnected([&](const cw::net::open_info&) { c.send_text(R"({"op":"resubscribe"})"); });
  c.on_reconnect_scheduled(
      [](std::uint32_t attempt, std::chrono::milliseconds delay, const std::string& cause) {
        std::printf("reconnecting in %lld ms (attempt %u, cause %s)\n",
                    static_cast<long long>(delay.count()), attempt, cause.c_str());
      });
  c.on_give_up(
      [](const cw::net::give_up_summary& s) { std::printf("stopping: %s\n", s.reason.c_str()); });
  c.on_undelivered([](std::vector<cw::net::queued_message> msgs, std::error_code ec) {
    std::printf("%zu message(s) handed back: %s\n", msgs.size(), ec.message().c_str());
  });
  if (auto ec = c.connect(argv[1])) return 2;
  c.send_text("queued until the connection opens");
  ioc.run();
}
