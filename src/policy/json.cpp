#include "closewise/policy/json.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <utility>

#include "closewise/policy/presets.hpp"

namespace closewise::policy {
namespace {

// Document order is kept, so "the later of equally narrow overrides wins" means
// the later one in the file, and a saved policy loads back equal.
using json = nlohmann::ordered_json;
using std::chrono::milliseconds;

// ~31 years: far beyond any sensible wait, far below any overflow in the engine.
constexpr std::int64_t max_ms = 1'000'000'000'000;

class json_error_cat final : public std::error_category {
 public:
  const char* name() const noexcept override { return "closewise.policy.json"; }
  std::string message(int ev) const override {
    switch (static_cast<json_error>(ev)) {
      case json_error::unreadable:
        return "the policy file could not be read";
      case json_error::syntax:
        return "the policy is not valid JSON";
      case json_error::schema:
        return "the policy does not follow the schema";
    }
    return "unknown policy JSON error";
  }
};

// A schema violation, thrown inside the loader only and turned into a load_result.
struct schema_violation {
  std::string message;
};

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw schema_violation{path + ": " + what};
}

std::string quoted_key(std::string_view key) { return "[\"" + std::string(key) + "\"]"; }

template <class Names>
std::string one_of(const Names& names) {
  std::string out = "expected one of ";
  bool first = true;
  for (const auto& n : names) {
    if (!first) out += '|';
    out += n;
    first = false;
  }
  return out;
}

void require_object(const json& j, const std::string& path) {
  if (!j.is_object()) fail(path, "expected an object");
}

void only_fields(const json& j, const std::string& path,
                 std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (auto a : allowed) known = known || a == key;
    if (!known) fail(path + "." + key, "unknown field (" + one_of(allowed) + ")");
  }
}

std::int64_t integer(const json& j, const std::string& path, std::int64_t lo, std::int64_t hi) {
  const std::string expected =
      "expected a whole number from " + std::to_string(lo) + " to " + std::to_string(hi);
  if (!j.is_number_integer()) fail(path, expected);
  if (j.is_number_unsigned()) {
    const auto v = j.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(hi) || static_cast<std::int64_t>(v) < lo)
      fail(path, expected);
    return static_cast<std::int64_t>(v);
  }
  const auto v = j.get<std::int64_t>();
  if (v < lo || v > hi) fail(path, expected);
  return v;
}

milliseconds duration(const json& j, const std::string& path) {
  return milliseconds{integer(j, path, 0, max_ms)};
}

double fraction(const json& j, const std::string& path) {
  if (!j.is_number()) fail(path, "expected a number from 0 to 1");
  const double v = j.get<double>();
  if (!(v >= 0.0 && v <= 1.0)) fail(path, "expected a number from 0 to 1");
  return v;
}

bool boolean(const json& j, const std::string& path) {
  if (!j.is_boolean()) fail(path, "expected true or false");
  return j.get<bool>();
}

std::string text(const json& j, const std::string& path) {
  if (!j.is_string()) fail(path, "expected a string");
  return j.get<std::string>();
}

constexpr std::string_view action_names[] = {"stop", "retry", "retry_raised_floor",
                                             "retry_with_strikes"};
constexpr std::string_view qualifier_names[] = {"none", "credential_refresh", "dead_letter",
                                                "tls_verify_stops"};
constexpr std::string_view strategy_names[] = {"full_jitter", "decorrelated_jitter", "fixed"};

reconnect_action parse_action(const json& j, const std::string& path) {
  const std::string expected = one_of(action_names);
  if (!j.is_string()) fail(path, expected);
  const auto s = j.get<std::string>();
  for (auto a : {reconnect_action::stop, reconnect_action::retry,
                 reconnect_action::retry_raised_floor, reconnect_action::retry_with_strikes}) {
    if (to_string(a) == s) return a;
  }
  fail(path, expected);
}

reconnect_qualifier parse_qualifier(const json& j, const std::string& path) {
  const std::string expected = one_of(qualifier_names);
  if (!j.is_string()) fail(path, expected);
  const auto s = j.get<std::string>();
  for (auto q : {reconnect_qualifier::none, reconnect_qualifier::credential_refresh,
                 reconnect_qualifier::dead_letter, reconnect_qualifier::tls_verify_stops}) {
    if (to_string(q) == s) return q;
  }
  fail(path, expected);
}

// A rule is an action name, or an object with the action and its refinements;
// its "why" is kept by the config being loaded.
rule parse_rule(const json& j, const std::string& path, text_store& texts) {
  rule r;
  if (j.is_string()) {
    r.action = parse_action(j, path);
    return r;
  }
  if (!j.is_object()) fail(path, "expected an action name or an object with an \"action\"");
  only_fields(j, path, {"action", "qualifier", "floor_ms", "first_spread_ms", "why"});
  if (!j.contains("action")) fail(path + ".action", "missing; " + one_of(action_names));
  r.action = parse_action(j.at("action"), path + ".action");
  if (j.contains("qualifier"))
    r.qualifier = parse_qualifier(j.at("qualifier"), path + ".qualifier");
  if (j.contains("floor_ms")) r.floor = duration(j.at("floor_ms"), path + ".floor_ms");
  if (j.contains("first_spread_ms")) {
    r.first_spread = duration(j.at("first_spread_ms"), path + ".first_spread_ms");
  }
  if (j.contains("why")) r.why = texts.keep(text(j.at("why"), path + ".why"));
  return r;
}

// "1012" or "4000-4099", within [lo, hi].
std::pair<unsigned, unsigned> parse_range(std::string_view key, const std::string& path,
                                          unsigned lo, unsigned hi) {
  const std::string expected = "expected a number or a range FIRST-LAST within " +
                               std::to_string(lo) + "-" + std::to_string(hi);
  const auto number = [&](std::string_view s) {
    if (s.empty() || s.size() > 5) fail(path, expected);
    unsigned v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') fail(path, expected);
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v < lo || v > hi) fail(path, expected);
    return v;
  };
  const auto dash = key.find('-');
  const unsigned first = number(key.substr(0, dash));
  const unsigned last = dash == std::string_view::npos ? first : number(key.substr(dash + 1));
  if (last < first) fail(path, "the range is reversed; write FIRST-LAST with FIRST <= LAST");
  return {first, last};
}

backoff parse_backoff(const json& j, const std::string& path) {
  require_object(j, path);
  const std::string strategy =
      j.contains("strategy") ? text(j.at("strategy"), path + ".strategy") : "full_jitter";
  if (strategy == "full_jitter") {
    only_fields(j, path, {"strategy", "base_ms", "floor_ms", "cap_ms"});
    full_jitter s;
    if (j.contains("base_ms")) s.base = duration(j.at("base_ms"), path + ".base_ms");
    if (j.contains("floor_ms")) s.floor = duration(j.at("floor_ms"), path + ".floor_ms");
    if (j.contains("cap_ms")) s.cap = duration(j.at("cap_ms"), path + ".cap_ms");
    return s;
  }
  if (strategy == "decorrelated_jitter") {
    only_fields(j, path, {"strategy", "base_ms", "cap_ms"});
    decorrelated_jitter s;
    if (j.contains("base_ms")) s.base = duration(j.at("base_ms"), path + ".base_ms");
    if (j.contains("cap_ms")) s.cap = duration(j.at("cap_ms"), path + ".cap_ms");
    return s;
  }
  if (strategy == "fixed") {
    only_fields(j, path, {"strategy", "delays_ms", "jitter"});
    fixed_delays s;
    if (j.contains("delays_ms")) {
      const auto& list = j.at("delays_ms");
      const std::string lpath = path + ".delays_ms";
      if (!list.is_array() || list.empty())
        fail(lpath, "expected a non-empty array of milliseconds");
      s.delays.clear();
      for (std::size_t i = 0; i < list.size(); ++i) {
        s.delays.push_back(duration(list[i], lpath + "[" + std::to_string(i) + "]"));
      }
    }
    if (j.contains("jitter")) s.jitter = fraction(j.at("jitter"), path + ".jitter");
    return s;
  }
  fail(path + ".strategy", one_of(strategy_names));
}

config parse_config(const json& root) {
  const std::string path = "policy";
  require_object(root, path);
  only_fields(root, path,
              {"name", "extends", "backoff", "reconnect_on_normal_close", "min_uptime_ms",
               "strike_limit", "max_attempts", "max_elapsed_ms", "max_retry_after_ms",
               "hint_jitter", "codes", "statuses", "transport"});
  config cfg;
  if (root.contains("extends")) {
    const std::string base = text(root.at("extends"), path + ".extends");
    auto found = preset(base);
    if (!found) fail(path + ".extends", one_of(preset_names));
    cfg = std::move(*found);
  }
  if (root.contains("name")) cfg.name = text(root.at("name"), path + ".name");
  if (root.contains("backoff")) cfg.backoff = parse_backoff(root.at("backoff"), path + ".backoff");
  if (root.contains("reconnect_on_normal_close")) {
    cfg.reconnect_on_normal_close =
        boolean(root.at("reconnect_on_normal_close"), path + ".reconnect_on_normal_close");
  }
  if (root.contains("min_uptime_ms")) {
    cfg.min_uptime = duration(root.at("min_uptime_ms"), path + ".min_uptime_ms");
  }
  if (root.contains("strike_limit")) {
    cfg.strike_limit =
        static_cast<std::uint32_t>(integer(root.at("strike_limit"), path + ".strike_limit", 1,
                                           std::numeric_limits<std::uint32_t>::max()));
  }
  if (root.contains("max_attempts")) {
    const auto& v = root.at("max_attempts");
    if (v.is_null()) {
      cfg.max_attempts.reset();
    } else {
      cfg.max_attempts = static_cast<std::uint32_t>(
          integer(v, path + ".max_attempts", 0, std::numeric_limits<std::uint32_t>::max()));
    }
  }
  if (root.contains("max_elapsed_ms")) {
    const auto& v = root.at("max_elapsed_ms");
    if (v.is_null()) {
      cfg.max_elapsed.reset();
    } else {
      cfg.max_elapsed = duration(v, path + ".max_elapsed_ms");
    }
  }
  if (root.contains("max_retry_after_ms")) {
    cfg.max_retry_after = duration(root.at("max_retry_after_ms"), path + ".max_retry_after_ms");
  }
  if (root.contains("hint_jitter")) {
    cfg.hint_jitter = fraction(root.at("hint_jitter"), path + ".hint_jitter");
  }
  if (root.contains("codes")) {
    const auto& codes = root.at("codes");
    require_object(codes, path + ".codes");
    for (const auto& [key, value] : codes.items()) {
      const std::string kpath = path + ".codes" + quoted_key(key);
      const auto [first, last] = parse_range(key, kpath, 0, 65535);
      cfg.codes.push_back({static_cast<std::uint16_t>(first), static_cast<std::uint16_t>(last),
                           parse_rule(value, kpath, cfg.texts)});
    }
  }
  if (root.contains("statuses")) {
    const auto& statuses = root.at("statuses");
    require_object(statuses, path + ".statuses");
    for (const auto& [key, value] : statuses.items()) {
      const std::string kpath = path + ".statuses" + quoted_key(key);
      const auto [first, last] = parse_range(key, kpath, 100, 999);
      cfg.statuses.push_back({first, last, parse_rule(value, kpath, cfg.texts)});
    }
  }
  if (root.contains("transport")) {
    const auto& transports = root.at("transport");
    require_object(transports, path + ".transport");
    for (const auto& [key, value] : transports.items()) {
      const std::string kpath = path + ".transport" + quoted_key(key);
      const auto failure = parse_transport_failure(key);
      if (!failure) {
        std::vector<std::string_view> names;
        for (auto f : all_transport_failures) names.push_back(to_string(f));
        fail(kpath, one_of(names));
      }
      cfg.transports.push_back({*failure, parse_rule(value, kpath, cfg.texts)});
    }
  }
  return cfg;
}

json rule_to_json(const rule& r) {
  json j = json::object();
  j["action"] = to_string(r.action);
  if (r.qualifier != reconnect_qualifier::none) j["qualifier"] = to_string(r.qualifier);
  if (r.floor.count() != 0) j["floor_ms"] = r.floor.count();
  if (r.first_spread.count() != 0) j["first_spread_ms"] = r.first_spread.count();
  if (!r.why.empty()) j["why"] = r.why;
  return j;
}

std::string range_key(unsigned first, unsigned last) {
  return first == last ? std::to_string(first) : std::to_string(first) + "-" + std::to_string(last);
}

json backoff_to_json(const backoff& b) {
  json j = json::object();
  if (const auto* s = std::get_if<full_jitter>(&b)) {
    j["strategy"] = "full_jitter";
    j["base_ms"] = s->base.count();
    j["floor_ms"] = s->floor.count();
    j["cap_ms"] = s->cap.count();
  } else if (const auto* d = std::get_if<decorrelated_jitter>(&b)) {
    j["strategy"] = "decorrelated_jitter";
    j["base_ms"] = d->base.count();
    j["cap_ms"] = d->cap.count();
  } else {
    const auto& f = std::get<fixed_delays>(b);
    j["strategy"] = "fixed";
    json list = json::array();
    for (auto d2 : f.delays) list.push_back(d2.count());
    j["delays_ms"] = std::move(list);
    j["jitter"] = f.jitter;
  }
  return j;
}

load_result failure(json_error e, std::string message) {
  load_result r;
  r.error = e;
  r.message = std::move(message);
  return r;
}

}  // namespace

const std::error_category& json_error_category() noexcept {
  static const json_error_cat category;
  return category;
}

load_result parse_policy(std::string_view json_text) {
  json root;
  try {
    root = json::parse(json_text.begin(), json_text.end());
  } catch (const json::exception& e) {
    // Not only parse_error: a number too large for any JSON number type
    // ("1e999999") is out_of_range, and must not escape as an exception either.
    return failure(json_error::syntax, std::string("policy: not valid JSON: ") + e.what());
  }
  try {
    load_result r;
    r.policy = parse_config(root);
    return r;
  } catch (const schema_violation& v) {
    return failure(json_error::schema, v.message);
  }
}

load_result load_policy_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return failure(json_error::unreadable, path.string() + ": cannot open the policy file");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad())
    return failure(json_error::unreadable, path.string() + ": cannot read the policy file");
  load_result r = parse_policy(buffer.str());
  if (!r) r.message = path.string() + ": " + r.message;
  return r;
}

std::string to_json(const config& cfg, int indent) {
  json j = json::object();
  j["name"] = cfg.name;
  j["backoff"] = backoff_to_json(cfg.backoff);
  j["reconnect_on_normal_close"] = cfg.reconnect_on_normal_close;
  j["min_uptime_ms"] = cfg.min_uptime.count();
  j["strike_limit"] = cfg.strike_limit;
  j["max_attempts"] = cfg.max_attempts ? json(*cfg.max_attempts) : json(nullptr);
  j["max_elapsed_ms"] = cfg.max_elapsed ? json(cfg.max_elapsed->count()) : json(nullptr);
  j["max_retry_after_ms"] = cfg.max_retry_after.count();
  j["hint_jitter"] = cfg.hint_jitter;
  json codes = json::object();
  for (const auto& o : cfg.codes) codes[range_key(o.first, o.last)] = rule_to_json(o.rule);
  j["codes"] = std::move(codes);
  json statuses = json::object();
  for (const auto& o : cfg.statuses) statuses[range_key(o.first, o.last)] = rule_to_json(o.rule);
  j["statuses"] = std::move(statuses);
  json transports = json::object();
  for (const auto& o : cfg.transports)
    transports[std::string(to_string(o.failure))] = rule_to_json(o.rule);
  j["transport"] = std::move(transports);
  return j.dump(indent);
}

}  // namespace closewise::policy
