// closewise::resume (private): the Redis store's Lua scripts (docs/resume.md
// §8.3), one per store operation, each run atomically by EVALSHA.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace closewise::resume::redis_scripts {

// ---- the scripts (docs/resume.md §8.3) -------------------------------------------------
// KEYS[1] = PREFIX{id}:m (hash), KEYS[2] = PREFIX{id}:q (list). Time is Redis's
// own (TIME), so every server process shares one clock. Expected outcomes are
// returned as strings; success of attach is an array.

inline constexpr std::string_view now_lua =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) ";

// ARGV: owner, ttl_ms, tombstone_ms
inline constexpr std::string_view create_lua =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists' end "
    "local ttl = tonumber(ARGV[2]) "
    "redis.call('HSET', KEYS[1], 'epoch', 1, 'owner', ARGV[1], 'state', 'live', 'received', 0, "
    "  'sent', 0, 'acked', 0, 'oldest', 1, 'ttl', ttl, 'deadline', now + ttl) "
    "redis.call('PEXPIRE', KEYS[1], ttl + tonumber(ARGV[3])) "
    "return 'ok'";

// ARGV: owner, tombstone_ms, attempt (0: none offered)
inline constexpr std::string_view attach_lua =
    "local m = redis.call('HMGET', KEYS[1], 'state', 'owner', 'deadline', 'ttl', 'attempt') "
    "if not m[1] or m[2] ~= ARGV[1] then return 'unknown' end "
    "if m[1] == 'ended' then return 'ended' end "
    "if now >= tonumber(m[3]) then redis.call('DEL', KEYS[2]) return 'expired' end "
    "local attempt = tonumber(ARGV[3]) "
    "if attempt > 0 then "
    "  if attempt <= tonumber(m[5] or '0') then return 'stale' end "
    "  redis.call('HSET', KEYS[1], 'attempt', attempt) "
    "end "
    "local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1) "
    "local ttl = tonumber(m[4]) "
    "redis.call('HSET', KEYS[1], 'deadline', now + ttl) "
    "redis.call('PEXPIRE', KEYS[1], ttl + tonumber(ARGV[2])) "
    "redis.call('PEXPIRE', KEYS[2], ttl) "
    "local c = redis.call('HMGET', KEYS[1], 'received', 'sent', 'acked', 'oldest') "
    "return {epoch, tonumber(c[1]), tonumber(c[2]), tonumber(c[3]), tonumber(c[4]), "
    "  redis.call('LRANGE', KEYS[2], 0, -1)}";

// ARGV: epoch, received, acked, evicted_through, first, tombstone_ms, messages...
inline constexpr std::string_view commit_lua =
    "local m = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'received', 'sent', 'acked', "
    "  'oldest', 'ttl', 'deadline') "
    "if not m[1] then return 'unknown' end "
    "if m[1] == 'ended' then return 'ended' end "
    "if tonumber(m[2]) ~= tonumber(ARGV[1]) then return 'superseded' end "
    // An expired session's list may be gone: writing would resurrect half of it.
    "if now >= tonumber(m[8]) then return 'expired' end "
    "local received, acked = tonumber(ARGV[2]), tonumber(ARGV[3]) "
    "local evicted, first = tonumber(ARGV[4]), tonumber(ARGV[5]) "
    "local sent, n = tonumber(m[4]), #ARGV - 6 "
    "if received < tonumber(m[3]) or acked < tonumber(m[5]) then return 'invalid' end "
    "if n > 0 and first ~= sent + 1 then return 'invalid' end "
    "local newsent = sent + n "
    "if acked > newsent or evicted > newsent then return 'invalid' end "
    "for i = 7, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end "
    "local oldest = tonumber(m[6]) "
    "local want = math.max(oldest, acked + 1, evicted + 1) "
    "if want > oldest then redis.call('LTRIM', KEYS[2], want - oldest, -1) end "
    "local ttl = tonumber(m[7]) "
    "redis.call('HSET', KEYS[1], 'received', received, 'sent', newsent, 'acked', acked, "
    "  'oldest', want, 'deadline', now + ttl) "
    "redis.call('PEXPIRE', KEYS[1], ttl + tonumber(ARGV[6])) "
    "redis.call('PEXPIRE', KEYS[2], ttl) "
    "return 'ok'";

// ARGV: epoch, tombstone_ms
inline constexpr std::string_view touch_lua =
    "local m = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'deadline', 'ttl') "
    "if not m[1] then return 'unknown' end "
    "if m[1] == 'ended' then return 'ended' end "
    "if tonumber(m[2]) ~= tonumber(ARGV[1]) then return 'superseded' end "
    "if now >= tonumber(m[3]) then return 'expired' end "
    "local ttl = tonumber(m[4]) "
    "redis.call('HSET', KEYS[1], 'deadline', now + ttl) "
    "redis.call('PEXPIRE', KEYS[1], ttl + tonumber(ARGV[2])) "
    "redis.call('PEXPIRE', KEYS[2], ttl) "
    "return 'ok'";

// ARGV: epoch, tombstone_ms
inline constexpr std::string_view end_lua =
    "local m = redis.call('HMGET', KEYS[1], 'state', 'epoch') "
    "if not m[1] then return 'unknown' end "
    "if m[1] == 'ended' then return 'ok' end "
    "if tonumber(m[2]) ~= tonumber(ARGV[1]) then return 'superseded' end "
    "redis.call('HSET', KEYS[1], 'state', 'ended') "
    "redis.call('DEL', KEYS[2]) "
    "redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2])) "
    "return 'ok'";

enum script : std::size_t { s_create, s_attach, s_commit, s_touch, s_end, s_count };

inline std::string script_text(script s) {
  std::string_view body;
  switch (s) {
    case s_create:
      body = create_lua;
      break;
    case s_attach:
      body = attach_lua;
      break;
    case s_commit:
      body = commit_lua;
      break;
    case s_touch:
      body = touch_lua;
      break;
    case s_end:
      body = end_lua;
      break;
    default:
      break;
  }
  return std::string(now_lua) + std::string(body);
}

}  // namespace closewise::resume::redis_scripts
