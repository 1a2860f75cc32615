// End to end through `closewise proxy`: an upstream that fails reaches the
// client as 1014 with a reason saying which; the proxy's own shutdown, load
// shedding, and what the upstream is asked for (path, query, subprotocol).
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>

#include <csignal>
#include <string>
#include <utility>

#include "cli/proxy_support.hpp"

using namespace closewise;
using namespace closewise::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

/// A port nothing listens on: bound, then closed.
int closed_port() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const int port = a.local_endpoint().port();
  a.close();
  return port;
}

/// Connects through the proxy and returns the client's close event.
close_event close_through(io_thread& io, const std::string& url) {
  probe_client c(io.ioc);
  c.start(url);
  return c.wait_close(15s);
}

/// Opens `c` through the proxy to a path with /echo and waits for one echo,
/// so that the upstream leg is open too.
void open_both_legs(probe_client& c, const std::string& url) {
  auto echoed = std::make_shared<std::promise<void>>();
  auto f = echoed->get_future();
  c.start(
      url, [](net::client& cl) { EXPECT_FALSE(cl.send_text("x")); },
      [echoed, first = true](net::client&) mutable {
        if (std::exchange(first, false)) echoed->set_value();
      });
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
}

void expect_1014(const close_event& ev, const std::string& reason) {
  EXPECT_EQ(to_int(ev.code), 1014) << ev.reason;
  EXPECT_EQ(ev.reason, reason);
  EXPECT_TRUE(ev.was_clean);
  EXPECT_EQ(ev.initiator, initiator::remote);
}

}  // namespace

TEST(cli_proxy, an_upstream_that_refuses_the_tcp_connect_gives_1014_upstream_refused) {
  io_thread io;
  cli_process proxy(proxy_args("ws://127.0.0.1:" + std::to_string(closed_port())));
  expect_1014(close_through(io, proxy_url(proxy) + "/"), "upstream refused");
}

TEST(cli_proxy, an_upstream_answering_503_gives_1014_upstream_answered_503) {
  io_thread io;
  cli_process serve(cli({"serve", "--json", "--reject-status", "503"}));
  cli_process proxy(proxy_args(start_serve(serve)));
  expect_1014(close_through(io, proxy_url(proxy) + "/"), "upstream answered 503");
}

TEST(cli_proxy, an_upstream_that_never_answers_the_upgrade_gives_1014_upstream_timeout) {
  io_thread io;
  // Accepts TCP (the kernel's backlog does) and never answers.
  boost::asio::ip::tcp::acceptor silent(io.ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const int port = silent.local_endpoint().port();
  cli_process proxy(
      proxy_args("ws://127.0.0.1:" + std::to_string(port), {"--upstream-timeout-ms", "300"}));
  expect_1014(close_through(io, proxy_url(proxy) + "/"), "upstream timeout");
}

TEST(cli_proxy, an_upstream_dropping_tcp_mid_stream_gives_1014_without_a_close_frame) {
  io_thread io;
  cli_process serve(cli({"serve", "--json", "--echo", "--drop-after-ms", "200"}));
  cli_process proxy(proxy_args(start_serve(serve)));
  probe_client c(io.ioc);
  c.start(proxy_url(proxy) + "/", [](net::client& cl) { EXPECT_FALSE(cl.send_text("hello")); });
  expect_1014(c.wait_close(15s), "upstream closed without a close frame");
  ASSERT_EQ(c.messages.size(), 1u);  // the echo went through before the drop
  EXPECT_EQ(c.messages[0], "hello");
}

TEST(cli_proxy, an_upstream_killed_mid_stream_gives_1014_without_a_close_frame) {
  io_thread io;
  cli_process serve(cli({"serve", "--json", "--echo"}));
  cli_process proxy(proxy_args(start_serve(serve)));
  probe_client c(io.ioc);
  c.start(proxy_url(proxy) + "/");
  ASSERT_EQ(c.open_f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(next_json(serve)["event"], "open");  // the upstream leg is open too
  serve.signal(SIGKILL);
  expect_1014(c.wait_close(15s), "upstream closed without a close frame");
}

TEST(cli_proxy, sigterm_sends_1001_to_client_and_upstream_and_exits_zero_with_a_summary) {
  io_thread io;
  upstream_server up(io.ioc);
  const int up_port = up.listen();
  cli_process proxy(proxy_args("ws://127.0.0.1:" + std::to_string(up_port)));
  probe_client c(io.ioc);
  open_both_legs(c, proxy_url(proxy) + "/echo");
  proxy.signal(SIGTERM);
  const close_event ev = c.wait_close();
  EXPECT_EQ(to_int(ev.code), 1001);
  EXPECT_EQ(ev.reason, "proxy shutting down");
  EXPECT_TRUE(ev.was_clean);
  const auto seen = up.wait_ended(1, 10s);
  ASSERT_EQ(seen.count("/echo"), 1u);
  EXPECT_EQ(to_int(seen.at("/echo").ended.code), 1001);
  EXPECT_EQ(seen.at("/echo").ended.reason, "proxy shutting down");
  EXPECT_TRUE(seen.at("/echo").ended.was_clean);
  const json sum = next_event(proxy, "summary");
  EXPECT_EQ(sum["relayed"], 1);
  EXPECT_EQ(sum["shutdown"]["clean"], 1);
  EXPECT_EQ(proxy.wait(5s), 0);
}

TEST(cli_proxy, sighup_sends_1012_to_the_client_and_1001_upstream) {
  io_thread io;
  upstream_server up(io.ioc);
  const int up_port = up.listen();
  cli_process proxy(proxy_args("ws://127.0.0.1:" + std::to_string(up_port)));
  probe_client c(io.ioc);
  open_both_legs(c, proxy_url(proxy) + "/echo");
  proxy.signal(SIGHUP);
  EXPECT_EQ(to_int(c.wait_close().code), 1012);
  const auto seen = up.wait_ended(1, 10s);
  ASSERT_EQ(seen.count("/echo"), 1u);
  EXPECT_EQ(to_int(seen.at("/echo").ended.code), 1001);
  EXPECT_EQ(proxy.wait(5s), 0);
}

TEST(cli_proxy, max_connections_sheds_with_503_or_with_1013) {
  io_thread io;
  upstream_server up(io.ioc);
  const std::string up_url = "ws://127.0.0.1:" + std::to_string(up.listen());
  for (const bool use_1013 : {false, true}) {
    std::vector<std::string> extra{"--max-connections", "1", "--retry-after", "7"};
    if (use_1013) extra.push_back("--shed-1013");
    cli_process proxy(proxy_args(up_url, extra));
    const std::string url = proxy_url(proxy);
    probe_client first(io.ioc);
    first.start(url + "/stay");
    ASSERT_EQ(first.open_f.wait_for(10s), std::future_status::ready);
    probe_client second(io.ioc);
    std::promise<unsigned> status;
    second.c.on_refused([&](const proto::handshake_failure& f) { status.set_value(f.status); });
    second.start(url + "/stay");
    const close_event ev = second.wait_close();
    if (use_1013) {
      EXPECT_EQ(to_int(ev.code), 1013);
      EXPECT_EQ(ev.reason, "retry-after=7");
    } else {
      EXPECT_EQ(to_int(ev.code), 1006);
      EXPECT_EQ(status.get_future().get(), 503u);
    }
  }
}

TEST(cli_proxy, path_query_and_subprotocol_go_upstream_and_the_choice_comes_back) {
  io_thread io;
  upstream_server up(io.ioc);
  const int up_port = up.listen();
  cli_process proxy(proxy_args("ws://127.0.0.1:" + std::to_string(up_port) + "/base/?k=v"));
  net::client_config cfg;
  cfg.subprotocols = {"chat.v2", "chat.v1"};
  probe_client c(io.ioc, cfg);
  // Closed after an echo, so the upstream leg is open (see the close-codes tests).
  c.start(
      proxy_url(proxy) + "/echo/7?x=1", [](net::client& cl) { EXPECT_FALSE(cl.send_text("x")); },
      [](net::client& cl) { EXPECT_FALSE(cl.close()); });

  EXPECT_EQ(c.open_f.get().subprotocol, "chat.v2");
  EXPECT_EQ(to_int(c.wait_close().code), 1000);
  const auto seen = up.wait_ended(1, 10s);
  ASSERT_EQ(seen.count("/base/echo/7?k=v&x=1"), 1u) << (seen.empty() ? "" : seen.begin()->first);
  const auto& r = seen.at("/base/echo/7?k=v&x=1");
  EXPECT_EQ(r.offered, (std::vector<std::string>{"chat.v2", "chat.v1"}));
  EXPECT_EQ(r.forwarded_for, "127.0.0.1");
}

TEST(cli_proxy, an_upstream_choosing_another_subprotocol_gives_1014) {
  io_thread io;
  upstream_server up(io.ioc);
  up.pick([](const std::vector<std::string>& o) { return o.back(); });
  const int up_port = up.listen();
  cli_process proxy(proxy_args("ws://127.0.0.1:" + std::to_string(up_port)));
  net::client_config cfg;
  cfg.subprotocols = {"a", "b"};
  probe_client c(io.ioc, cfg);
  c.start(proxy_url(proxy) + "/stay");
  expect_1014(c.wait_close(), "upstream chose another subprotocol");
}

TEST(cli_proxy, a_bad_upstream_url_or_listen_address_is_refused_at_start) {
  cli_process bad_url(proxy_args("http://127.0.0.1:1"));
  EXPECT_EQ(bad_url.wait(5s), 2);
  cli_process bad_listen(cli({"proxy", "--listen", "nowhere", "--upstream", "ws://127.0.0.1:1"}));
  EXPECT_EQ(bad_listen.wait(5s), 2);
}
