// server.hpp promises "Destroying the server stops all callbacks". A flag
// alone did not keep it: a callback that passed its check on an io thread kept
// running after ~server returned, over application state the caller was
// destroying (TSan found it in the fault tests). Every callback now holds the
// server's callback_gate while it runs, and ~server waits for the others'.
#include "closewise/net/server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "closewise/net/client.hpp"
#include "net/net_test_support.hpp"

namespace closewise::net::test {
namespace {

using namespace std::chrono_literals;

TEST(server_destruction, destruction_waits_for_a_callback_running_on_another_thread) {
  io_thread io;
  auto srv = std::make_unique<server>(io.ioc);
  channel<int> entered;
  std::atomic<bool> finished{false};
  srv->on_message([&](session&, proto::message_kind, std::string_view) {
    entered.push(1);
    std::this_thread::sleep_for(300ms);  // the application's work
    finished.store(true);
  });
  ASSERT_FALSE(srv->listen("127.0.0.1", 0));
  channel<client_event> ev;
  client c(io.ioc);
  record(c, ev);
  ASSERT_FALSE(c.connect("ws://127.0.0.1:" + std::to_string(srv->port()) + "/"));
  ASSERT_TRUE(ev.pop());  // open
  ASSERT_FALSE(c.send_text("work"));
  ASSERT_TRUE(entered.pop());  // the callback runs on the io thread now
  srv.reset();
  EXPECT_TRUE(finished.load()) << "~server returned while on_message was still running";
  // Let the callback end before its state goes (so this test itself is clean).
  while (!finished.load()) std::this_thread::sleep_for(10ms);
}

}  // namespace
}  // namespace closewise::net::test
