// The transport lifecycle (src/net/transport_lifecycle.*), sans-I/O: the TCP
// and TLS teardown of both roles with two in-memory peers, the steps before
// open, and every teardown replayed with a fault injected at step n = 0, 1, 2, ...
#include "../../src/net/transport_lifecycle.hpp"

#include <gtest/gtest.h>

#include "closewise/error.hpp"
#include "net/transport_support.hpp"

namespace closewise::net {
namespace {

using namespace test;
using op = transport_action::op;
using strings = std::vector<std::string>;

close_event cev(close_code code, std::string reason, bool clean, initiator who,
                std::error_code why = {}) {
  return close_event{code, std::move(reason), clean, who, why};
}

// ------------------------------------------------------------ before open --

TEST(transport_lifecycle, connect_and_upgrade_each_have_their_own_deadline) {
  const auto lim = world::limits(proto::role::client);
  transport_lifecycle lc(proto::role::client, lim);
  EXPECT_EQ(names(lc.start_connect()), strings{"arm connect 1000ms"});
  EXPECT_EQ(lc.state(), transport_state::connecting);
  EXPECT_FALSE(lc.reads());
  EXPECT_EQ(names(lc.connected(false)), (strings{"disarm connect", "arm handshake 1000ms"}));
  EXPECT_EQ(lc.state(), transport_state::upgrading);
  EXPECT_TRUE(lc.reads());
  EXPECT_EQ(names(lc.opened()), strings{"disarm handshake"});
  EXPECT_EQ(lc.state(), transport_state::open);
}

TEST(transport_lifecycle, tls_handshake_shares_the_handshake_deadline) {
  const auto lim = world::limits(proto::role::server);
  transport_lifecycle lc(proto::role::server, lim);
  EXPECT_EQ(names(lc.accepted(true)), strings{"arm handshake 1000ms"});
  EXPECT_EQ(lc.state(), transport_state::tls_handshake);
  EXPECT_FALSE(lc.reads());  // the TLS handshake reads for itself
  EXPECT_TRUE(lc.tls_established().empty());
  EXPECT_EQ(lc.state(), transport_state::upgrading);
  EXPECT_EQ(names(lc.timer_fired(timer_kind::handshake)),
            (strings{"close_socket",
                     "fail (" + make_error_code(error::handshake_timeout).message() + ")"}));
  EXPECT_EQ(lc.state(), transport_state::done);
}

TEST(transport_lifecycle, second_connect_while_one_is_in_flight_changes_nothing) {
  const auto lim = world::limits(proto::role::client);
  transport_lifecycle lc(proto::role::client, lim);
  ASSERT_EQ(lc.start_connect().size(), 1u);
  EXPECT_TRUE(lc.start_connect().empty());
  EXPECT_TRUE(lc.accepted(false).empty());
  EXPECT_EQ(lc.state(), transport_state::connecting);
  EXPECT_TRUE(lc.armed(timer_kind::connect));
}

// close_before_open: the application cancels while the server's EOF races it.
// Whichever comes first ends the attempt, exactly once.
TEST(transport_lifecycle, close_before_open_cancels_once_whatever_raced_it) {
  const auto lim = world::limits(proto::role::client);
  {
    transport_lifecycle lc(proto::role::client, lim);
    (void)lc.start_connect();
    (void)lc.connected(false);
    const auto a = lc.cancel(error::aborted);
    ASSERT_EQ(a.size(), 2u);
    EXPECT_EQ(a[0].what, op::close_socket);
    EXPECT_EQ(a[1].what, op::fail);
    EXPECT_EQ(a[1].why, error::aborted);
    EXPECT_EQ(a[1].who, initiator::local);
    EXPECT_TRUE(lc.eof().empty());
    EXPECT_TRUE(lc.transport_error(error::connection_reset).empty());
    EXPECT_TRUE(lc.timer_fired(timer_kind::handshake).empty());
    EXPECT_TRUE(lc.cancel(error::aborted).empty());
  }
  {
    transport_lifecycle lc(proto::role::client, lim);
    (void)lc.start_connect();
    (void)lc.connected(false);
    const auto a = lc.eof();
    ASSERT_EQ(a.size(), 2u);
    EXPECT_EQ(a[1].why, error::eof_without_close);
    EXPECT_EQ(a[1].who, initiator::none);
    EXPECT_TRUE(lc.cancel(error::aborted).empty());
    EXPECT_TRUE(lc.abort(error::aborted).empty());
  }
}

TEST(transport_lifecycle, cancel_while_idle_or_connecting) {
  const auto lim = world::limits(proto::role::client);
  transport_lifecycle lc(proto::role::client, lim);
  EXPECT_TRUE(lc.cancel(error::aborted).empty());  // nothing started: close() says not_open
  EXPECT_TRUE(lc.abort(error::aborted).empty());
  EXPECT_EQ(lc.state(), transport_state::idle);
  (void)lc.start_connect();
  const auto a = lc.abort(error::aborted);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[1].who, initiator::local);
  EXPECT_FALSE(lc.armed(timer_kind::connect));  // done stops every timer
}

// A timer completion that raced the input which disarmed it (the old single
// timer needed a generation counter for this) is ignored.
TEST(transport_lifecycle, a_timer_that_raced_its_disarm_is_ignored) {
  const auto lim = world::limits(proto::role::client);
  transport_lifecycle lc(proto::role::client, lim);
  (void)lc.start_connect();
  (void)lc.connected(false);
  EXPECT_TRUE(lc.timer_fired(timer_kind::connect).empty());
  EXPECT_TRUE(lc.timer_fired(timer_kind::close).empty());
  EXPECT_TRUE(lc.timer_fired(timer_kind::linger).empty());
  EXPECT_EQ(lc.state(), transport_state::upgrading);
  (void)lc.opened();
  EXPECT_TRUE(lc.timer_fired(timer_kind::handshake).empty());
  EXPECT_EQ(lc.state(), transport_state::open);
}

TEST(transport_lifecycle, server_refusal_half_closes_and_reads_to_the_clients_eof) {
  const auto lim = world::limits(proto::role::server);
  transport_lifecycle lc(proto::role::server, lim);
  (void)lc.accepted(false);
  EXPECT_TRUE(lc.refuse().empty());
  EXPECT_EQ(lc.state(), transport_state::refusing);
  EXPECT_TRUE(lc.reads());
  EXPECT_EQ(names(lc.refusal_written()), strings{"shutdown_send"});
  const auto a = lc.eof();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].what, op::close_socket);
  EXPECT_EQ(a[1].what, op::fail);
}

TEST(transport_lifecycle, refusal_of_a_client_that_never_closes_ends_at_the_handshake_timeout) {
  const auto lim = world::limits(proto::role::server);
  transport_lifecycle lc(proto::role::server, lim);
  (void)lc.accepted(false);
  (void)lc.refuse();
  (void)lc.refusal_written();
  const auto a = lc.timer_fired(timer_kind::handshake);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[1].why, error::handshake_timeout);
}

// ------------------------------------------------------- one side, open on --

transport_lifecycle opened(proto::role r, const transport_limits& lim, bool tls = false) {
  transport_lifecycle lc(r, lim);
  if (r == proto::role::client) {
    (void)lc.start_connect();
    (void)lc.connected(tls);
  } else {
    (void)lc.accepted(tls);
  }
  (void)lc.tls_established();
  (void)lc.opened();
  return lc;
}

TEST(transport_lifecycle, close_timer_is_armed_once_and_replaces_the_heartbeat) {
  const auto lim = world::limits(proto::role::client);
  auto lc = opened(proto::role::client, lim);
  EXPECT_TRUE(lc.observe(proto::state::open, nullptr).empty());
  EXPECT_EQ(names(lc.observe(proto::state::closing_local, nullptr)),
            (strings{"disarm heartbeat", "arm close 500ms"}));
  EXPECT_TRUE(lc.observe(proto::state::closing_local, nullptr).empty());
  const auto clean = cev(close_code::normal, "", true, initiator::local);
  EXPECT_EQ(names(lc.observe(proto::state::closed, &clean)), strings{"disarm close"});
  EXPECT_EQ(lc.state(), transport_state::draining);
}

TEST(transport_lifecycle, client_lingers_for_the_servers_fin_then_gives_up_clean) {
  const auto lim = world::limits(proto::role::client);
  auto lc = opened(proto::role::client, lim);
  const auto clean = cev(close_code::normal, "", true, initiator::local);
  (void)lc.observe(proto::state::closing_local, nullptr);
  (void)lc.observe(proto::state::closed, &clean);
  EXPECT_EQ(names(lc.output(true)), strings{"arm linger 300ms"});
  EXPECT_EQ(lc.state(), transport_state::lingering);
  EXPECT_EQ(names(lc.timer_fired(timer_kind::linger)), (strings{"close_socket", "report"}));
  EXPECT_EQ(lc.final_event(&clean), clean);  // the server's lateness does not make it unclean
}

TEST(transport_lifecycle, abort_during_the_teardown_closes_at_once_and_is_unclean) {
  const auto lim = world::limits(proto::role::client);
  auto lc = opened(proto::role::client, lim);
  const auto clean = cev(close_code::normal, "", true, initiator::local);
  (void)lc.observe(proto::state::closed, &clean);
  (void)lc.output(true);
  ASSERT_EQ(lc.state(), transport_state::lingering);
  EXPECT_EQ(names(lc.abort(error::aborted)), (strings{"close_socket", "report"}));
  EXPECT_EQ(lc.final_event(&clean),
            cev(close_code::normal, "", false, initiator::local, error::aborted));
}

TEST(transport_lifecycle, drain_timer_only_when_the_last_frames_cannot_leave_at_once) {
  const auto lim = world::limits(proto::role::server);
  auto lc = opened(proto::role::server, lim);
  const auto clean = cev(close_code::normal, "", true, initiator::remote);
  (void)lc.observe(proto::state::closed, &clean);
  EXPECT_EQ(names(lc.output(false)), strings{"arm drain 500ms"});
  EXPECT_TRUE(lc.output(false).empty());
  EXPECT_EQ(names(lc.output(true)), (strings{"disarm drain", "close_socket", "report"}));
}

TEST(transport_lifecycle, slow_consumer_timers_say_slow_consumer) {
  const auto lim = world::limits(proto::role::server);
  {
    auto lc = opened(proto::role::server, lim);
    lc.slow_consumer();
    (void)lc.observe(proto::state::closing_local, nullptr);
    const auto a = lc.timer_fired(timer_kind::close);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].what, op::protocol_abort);
    EXPECT_EQ(a[0].why, error::slow_consumer);
  }
  {
    auto lc = opened(proto::role::server, lim);
    lc.slow_consumer();
    const auto clean = cev(close_code::policy_violation, "slow consumer", true, initiator::local);
    (void)lc.observe(proto::state::closed, &clean);
    (void)lc.output(false);
    EXPECT_EQ(names(lc.timer_fired(timer_kind::drain)), (strings{"close_socket", "report"}));
    EXPECT_EQ(lc.final_event(&clean).error, error::slow_consumer);
    EXPECT_FALSE(lc.final_event(&clean).was_clean);
  }
}

TEST(transport_lifecycle, transport_failure_while_open_goes_through_the_protocol) {
  const auto lim = world::limits(proto::role::client);
  auto lc = opened(proto::role::client, lim);
  const auto a = lc.transport_error(error::connection_reset);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].what, op::protocol_abort);
  EXPECT_FALSE(lc.reads());
  EXPECT_FALSE(lc.writes());
  const auto reset = cev(close_code::abnormal, "", false, initiator::none, error::connection_reset);
  EXPECT_EQ(names(lc.observe(proto::state::closed, &reset)),
            (strings{"disarm heartbeat", "close_socket", "report"}));
}

TEST(transport_lifecycle, no_protocol_result_reports_1006_aborted) {
  const auto lim = world::limits(proto::role::client);
  auto lc = opened(proto::role::client, lim);
  EXPECT_EQ(lc.final_event(nullptr),
            cev(close_code::abnormal, "", false, initiator::none, error::aborted));
}

}  // namespace
}  // namespace closewise::net
