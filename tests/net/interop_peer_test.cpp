// Interop with independent implementations, each started by the test:
// python-websockets (Debian) and Node `ws` (npm), as server and as client,
// over ws:// and wss://. Every close code valid on the wire goes both ways
// with an empty, a multibyte and a 123-byte reason; both sides' reports are
// asserted exactly. See docs/close-codes-peers.md for the matrix.
#include "closewise/net/client.hpp"
#include "closewise/net/server.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "closewise/error.hpp"
#include "net/interop_support.hpp"

namespace closewise::net {
namespace {

using namespace test;
using ce = client_event;
using json = nlohmann::json;

constexpr auto interop_limit = std::chrono::milliseconds(60000);

struct peer_param {
  std::string name;  // python | node
  bool tls;
};

std::string param_name(const ::testing::TestParamInfo<peer_param>& i) {
  return i.param.name + (i.param.tls ? "_wss" : "_ws");
}

class peer_interop : public ::testing::TestWithParam<peer_param> {
 protected:
  void SetUp() override {
    const auto& p = GetParam();
    const std::string interop = source_dir() + "/tests/interop";
    bool have = false;
    if (p.name == "python") {
      have = run_quiet("/usr/bin/python3 -c 'import websockets'");
    } else {
      have = run_quiet("node -e \"require('" + interop + "/node_modules/ws')\"");
    }
    if (!have) {
      // CI must not pass without the peer: a missing peer is a failure there.
      if (in_ci()) {
        FAIL() << "interop peer " << p.name << " is not installed (run scripts/deps.sh)";
      } else {
        GTEST_SKIP() << "interop peer " << p.name << " is not installed";
      }
    }
    if (p.tls) {
      certs = std::make_unique<test_certs>(dir.path());
      ASSERT_TRUE(certs->ok);
    }
  }

  std::vector<std::string> command(const std::string& mode, std::vector<std::string> args) const {
    const std::string interop = source_dir() + "/tests/interop";
    std::vector<std::string> cmd =
        GetParam().name == "python"
            ? std::vector<std::string>{"/usr/bin/python3", interop + "/py_peer.py", mode}
            : std::vector<std::string>{"node", interop + "/ws_peer.js", mode};
    cmd.insert(cmd.end(), args.begin(), args.end());
    return cmd;
  }

  temp_dir dir;
  std::unique_ptr<test_certs> certs;
};

// ------------------------------------------------- closewise client vs peer --

TEST_P(peer_interop, closewise_client_against_peer_server) {
  std::vector<std::string> args;
  if (certs) args = {"--cert", certs->server_cert.string(), "--key", certs->server_key.string()};
  child_process peer(command("server", args));
  ASSERT_TRUE(peer.started());
  std::optional<json> j;
  do {
    j = next_json(peer);
    ASSERT_TRUE(j) << "peer server did not start";
  } while ((*j)["event"] != "listening");
  const std::string base =
      std::string(certs ? "wss" : "ws") + "://127.0.0.1:" + std::to_string((*j)["port"].get<int>());

  io_thread io(2);
  client_config cfg;
  if (certs) cfg.tls.ca_file = certs->ca.string();

  struct conn {
    enum kind_t { peer_closes, we_close, peer_drops, echo } kind;
    std::uint16_t code = 0;
    std::string reason, path;
    std::unique_ptr<client> c;
    channel<client_event> ev;
  };
  std::vector<std::unique_ptr<conn>> conns;
  auto add = [&](conn::kind_t kind, std::uint16_t code, const std::string& reason,
                 std::string path) {
    auto& k = *conns.emplace_back(std::make_unique<conn>());
    k.kind = kind;
    k.code = code;
    k.reason = reason;
    k.path = path + "/" + std::to_string(conns.size());
    k.c = std::make_unique<client>(io.ioc, cfg);
    record(*k.c, k.ev);
    if (kind == conn::we_close) {
      k.c->on_open([&k](const open_info&) {
        k.ev.push({ce::opened, {}, {}, {}, {}, 0});
        EXPECT_FALSE(k.c->close(static_cast<close_code>(k.code), k.reason));
      });
    }
  };
  for (auto code : wire_codes)
    for (const auto& r : reasons)
      add(conn::peer_closes, code, r, "/close/" + std::to_string(code) + "/" + hex(r));
  for (auto code : app_codes)
    for (const auto& r : reasons) add(conn::we_close, code, r, "/await");
  add(conn::peer_drops, 0, "", "/drop");
  add(conn::echo, 0, "", "/echo");
  for (auto& k : conns) ASSERT_FALSE(k->c->connect(base + k->path));

  for (auto& k : conns) {
    auto e = k->ev.pop(interop_limit);
    ASSERT_TRUE(e) << k->path;
    ASSERT_EQ(e->type, ce::opened) << k->path << " " << e->ec.message();
    if (k->kind == conn::echo) {
      for (auto [size, text] : echo_sizes) {
        const std::string m = make_payload(size, text);
        ASSERT_FALSE(k->c->send(text ? proto::message_kind::text : proto::message_kind::binary, m));
        auto got = k->ev.pop(interop_limit);
        ASSERT_TRUE(got);
        ASSERT_EQ(got->type, ce::message);
        EXPECT_EQ(got->kind, text ? proto::message_kind::text : proto::message_kind::binary);
        EXPECT_EQ(got->data.size(), size);
        EXPECT_TRUE(got->data == m) << "echo of " << size << " bytes differs";
      }
      ASSERT_FALSE(k->c->close());
    }
  }

  std::map<std::string, closewise::close_event> ours;
  for (auto& k : conns) {
    auto e = k->ev.pop(interop_limit);
    ASSERT_TRUE(e) << k->path;
    ASSERT_EQ(e->type, ce::closed) << k->path;
    ours[k->path] = e->close;
  }
  std::map<std::string, json> theirs;
  while (theirs.size() < conns.size()) {
    auto line = next_json(peer, interop_limit);
    ASSERT_TRUE(line) << "peer reported " << theirs.size() << " of " << conns.size() << " closes";
    if ((*line)["event"] == "closed") theirs[(*line)["path"].get<std::string>()] = *line;
  }

  for (auto& k : conns) {
    const auto& e = ours[k->path];
    const auto& t = theirs[k->path];
    const auto code = static_cast<close_code>(k->code);
    switch (k->kind) {
      case conn::peer_closes:
        // We report exactly what the peer sent, and echo its code (RFC 6455 §5.5.1).
        EXPECT_EQ(e, cev(code, k->reason, true, initiator::remote)) << k->path;
        EXPECT_EQ(t["code"], k->code) << k->path;
        EXPECT_EQ(t["reason"], "") << k->path;
        break;
      case conn::we_close:
        // The peer reports what we sent; both peers echo code and reason.
        EXPECT_EQ(t["code"], k->code) << k->path;
        EXPECT_EQ(t["reason"], k->reason) << k->path;
        EXPECT_EQ(e, cev(code, k->reason, true, initiator::local)) << k->path;
        break;
      case conn::peer_drops:
        EXPECT_EQ(e.code, close_code::abnormal);
        EXPECT_EQ(e.reason, "");
        EXPECT_FALSE(e.was_clean);
        EXPECT_EQ(e.initiator, initiator::none);
        EXPECT_TRUE(e.error == error::eof_without_close || e.error == error::connection_reset)
            << e.error.message();
        break;
      case conn::echo:
        EXPECT_EQ(e, cev(close_code::normal, "", true, initiator::local));
        EXPECT_EQ(t["code"], 1000);
        break;
    }
  }
}

// ------------------------------------------------- peer client vs closewise --

TEST_P(peer_interop, peer_client_against_closewise_server) {
  io_thread io(2);
  server_config cfg;
  if (certs) {
    cfg.tls = tls_server_options{};
    cfg.tls->cert_file = certs->server_cert.string();
    cfg.tls->key_file = certs->server_key.string();
  }
  server srv(io.ioc, cfg);
  channel<std::pair<std::string, closewise::close_event>> closes;
  srv.on_open([](session& s) { act_on_scripted_path(s); });
  srv.on_message([](session& s, proto::message_kind k, std::string_view p) { (void)s.send(k, p); });
  srv.on_close([&](session& s, const closewise::close_event& e) {
    closes.push({s.request().target, e});
  });
  ASSERT_FALSE(srv.listen("127.0.0.1", 0));

  struct expect_t {
    std::string kind;
    std::uint16_t code = 0;
    std::string reason, path;
  };
  std::vector<expect_t> cases;
  json cases_json = json::array();
  auto add = [&](const std::string& kind, std::uint16_t code, const std::string& reason,
                 const std::string& path, const std::string& action) {
    const auto id = cases.size();
    const std::string p = path + "/" + std::to_string(id);
    cases.push_back({kind, code, reason, p});
    json c = {{"id", id}, {"path", p}, {"action", action}, {"code", code}, {"reason", hex(reason)}};
    if (kind == "echo") {
      c["sizes"] = json::array();
      for (auto [size, text] : echo_sizes) c["sizes"].push_back({size, text});
    }
    cases_json.push_back(c);
  };
  for (auto code : wire_codes)
    for (const auto& r : reasons) add("peer_closes", code, r, "/await", "close");
  for (auto code : wire_codes)
    for (const auto& r : reasons)
      add("we_close", code, r, "/close/" + std::to_string(code) + "/" + hex(r), "await");
  add("peer_drops", 0, "", "/await", "drop");
  add("we_drop", 0, "", "/drop", "await");
  add("echo", 0, "", "/echo", "echo");

  const std::string base =
      std::string(certs ? "wss" : "ws") + "://127.0.0.1:" + std::to_string(srv.port());
  std::vector<std::string> args = {base, cases_json.dump()};
  if (certs) args.insert(args.end(), {"--ca", certs->ca.string()});
  child_process peer(command("client", args));
  ASSERT_TRUE(peer.started());

  std::map<std::size_t, json> theirs;
  for (;;) {
    auto line = next_json(peer, interop_limit);
    ASSERT_TRUE(line) << "peer reported " << theirs.size() << " of " << cases.size() << " cases";
    if ((*line)["event"] == "done") break;
    if (line->contains("id")) theirs[(*line)["id"].get<std::size_t>()] = *line;
  }
  std::map<std::string, closewise::close_event> ours;
  while (ours.size() < cases.size()) {
    auto c = closes.pop(interop_limit);
    ASSERT_TRUE(c) << "server reported " << ours.size() << " of " << cases.size() << " closes";
    ours[c->first] = c->second;
  }

  for (std::size_t id = 0; id < cases.size(); ++id) {
    const auto& k = cases[id];
    const auto& t = theirs[id];
    const auto& e = ours[k.path];
    const auto code = static_cast<close_code>(k.code);
    ASSERT_NE(t["event"], "error") << k.path << ": " << t.dump();
    if (k.kind == "peer_closes") {
      EXPECT_EQ(e, cev(code, k.reason, true, initiator::remote)) << k.path;
      EXPECT_EQ(t["code"], k.code) << k.path;
      EXPECT_EQ(t["reason"], "") << k.path;
    } else if (k.kind == "we_close") {
      EXPECT_EQ(t["code"], k.code) << k.path;
      EXPECT_EQ(t["reason"], k.reason) << k.path;
      EXPECT_EQ(e, cev(code, k.reason, true, initiator::local)) << k.path;
    } else if (k.kind == "peer_drops") {
      EXPECT_EQ(e.code, close_code::abnormal);
      EXPECT_FALSE(e.was_clean);
      EXPECT_EQ(e.initiator, initiator::none);
      EXPECT_TRUE(e.error == error::eof_without_close || e.error == error::connection_reset)
          << e.error.message();
    } else if (k.kind == "we_drop") {
      EXPECT_EQ(t["code"], 1006) << t.dump();
      EXPECT_EQ(e, cev(close_code::abnormal, "", false, initiator::none, error::aborted));
    } else {
      EXPECT_EQ(t["event"], "echo");
      EXPECT_EQ(t["bad"], json::array()) << "sizes that did not come back intact";
      EXPECT_EQ(t["code"], 1000);
      EXPECT_EQ(e, cev(close_code::normal, "", true, initiator::remote));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(interop, peer_interop,
                         ::testing::Values(peer_param{"python", false}, peer_param{"python", true},
                                           peer_param{"node", false}, peer_param{"node", true}),
                         param_name);

}  // namespace
}  // namespace closewise::net
