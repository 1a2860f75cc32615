// The resume extension's wire format (docs/resume.md §2-§3): session ids, the
// ack payload, offers and answers, and the errors a refusal carries.
#include "closewise/resume/wire.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "closewise/error.hpp"
#include "proto/peer.hpp"

namespace closewise::resume {
namespace {

using closewise::test::to_hex;

const std::string id_hex = "6f1c0e2a9b7d44c3a8e15f20d93b7a61";
session_id sample_id() { return *session_id::parse(id_hex); }

}  // namespace

TEST(session_id, round_trips_and_rejects_other_spellings) {
  const auto id = session_id::parse(id_hex);
  ASSERT_TRUE(id);
  EXPECT_EQ(id->to_string(), id_hex);
  EXPECT_EQ(id->bytes()[0], 0x6f);
  EXPECT_EQ(id->bytes()[15], 0x61);
  EXPECT_FALSE(session_id::parse("6F1C0E2A9B7D44C3A8E15F20D93B7A61")) << "one spelling only";
  EXPECT_FALSE(session_id::parse(id_hex.substr(1)));
  EXPECT_FALSE(session_id::parse(id_hex + "0"));
  EXPECT_FALSE(session_id::parse("6f1c0e2a9b7d44c3a8e15f20d93b7a6g"));
  EXPECT_FALSE(session_id::parse(""));
}

TEST(session_id, generated_ids_are_random_and_never_zero) {
  const auto a = session_id::generate(), b = session_id::generate();
  EXPECT_NE(a, b);
  EXPECT_FALSE(a.is_zero());
  EXPECT_TRUE(session_id{}.is_zero());
  EXPECT_EQ(session_id::parse(a.to_string()), a);
}

TEST(ack_payload, is_eight_bytes_big_endian) {
  const auto p = encode_ack(0x0102030405060708ull & max_seq);
  EXPECT_EQ(to_hex(std::string_view(p.data(), p.size())), "00 02 03 04 05 06 07 08");
  const auto one = encode_ack(1);
  EXPECT_EQ(to_hex(std::string_view(one.data(), one.size())), "00 00 00 00 00 00 00 01");
  seq n = 99;
  ASSERT_FALSE(decode_ack(std::string_view(one.data(), one.size()), n));
  EXPECT_EQ(n, 1u);
  const auto top = encode_ack(max_seq);
  EXPECT_EQ(to_hex(std::string_view(top.data(), top.size())), "00 1f ff ff ff ff ff ff");
  ASSERT_FALSE(decode_ack(std::string_view(top.data(), top.size()), n));
  EXPECT_EQ(n, max_seq);
}

TEST(ack_payload, wrong_size_or_too_large_is_a_protocol_error) {
  seq n = 7;
  EXPECT_EQ(decode_ack("", n), error::bad_resume_ack);
  EXPECT_EQ(decode_ack(std::string(7, '\0'), n), error::bad_resume_ack);
  EXPECT_EQ(decode_ack(std::string(9, '\0'), n), error::bad_resume_ack);
  EXPECT_EQ(decode_ack(std::string("\x00\x20\x00\x00\x00\x00\x00\x00", 8), n),
            error::bad_resume_ack);
  EXPECT_EQ(decode_ack(std::string(8, '\xff'), n), error::bad_resume_ack);
  EXPECT_EQ(n, 7u) << "untouched on error";
  EXPECT_EQ(std::error_code(error::bad_resume_ack), condition::protocol_violation);
}

TEST(offer, formats_exactly) {
  EXPECT_EQ(format_offer({}), "closewise-resume");
  EXPECT_EQ(format_offer({resume_point{sample_id(), 1041, 2070, 2001}}),
            "closewise-resume; session=" + id_hex + "; received=1041; sent=2070; replay_from=2001");
  EXPECT_EQ(format_offer({resume_point{sample_id(), 1041, 2070, 2001, 7}}),
            "closewise-resume; session=" + id_hex +
                "; received=1041; sent=2070; replay_from=2001; attempt=7");
}

TEST(offer, carries_an_optional_attempt) {
  const std::string s =
      "closewise-resume; session=" + id_hex + "; received=0; sent=3; replay_from=2";
  const auto with = find_offer(s + "; attempt=12");
  ASSERT_TRUE(with);
  EXPECT_EQ(with->resume, (resume_point{sample_id(), 0, 3, 2, 12}));
  const auto without = find_offer(s);
  ASSERT_TRUE(without);
  EXPECT_EQ(without->resume->attempt, 0u) << "absent: 0, a plain attach";
  const offer o{resume_point{sample_id(), 1, 2, 3, max_seq}};
  EXPECT_EQ(find_offer(format_offer(o)), o);
  for (const std::string& bad : {
           s + "; attempt=0",                           // attempts count from 1
           s + "; attempt=01",                          // leading zero
           s + "; attempt=1; attempt=2",                // repeated
           s + "; attempt=x",                           // not a number
           s + "; attempt=9007199254740992",            // > max_seq
           s + "; attempt",                             // no value
           std::string("closewise-resume; attempt=1"),  // without a session
       })
    EXPECT_EQ(find_offer(bad), std::nullopt) << bad;
}

TEST(offer, is_found_among_other_extensions) {
  EXPECT_EQ(find_offer(""), std::nullopt);
  EXPECT_EQ(find_offer("permessage-deflate"), std::nullopt);
  EXPECT_EQ(find_offer("permessage-deflate; client_max_window_bits, closewise-resume"), offer{});
  const auto full = find_offer("x-other; a=1, closewise-resume; session=" + id_hex +
                               "; received=0; sent=3; replay_from=2, permessage-deflate");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->resume, (resume_point{sample_id(), 0, 3, 2}));
  // RFC 6455 §9.1: names case-insensitive, a quoted value means the same token.
  const auto quoted = find_offer("Closewise-Resume; SESSION=\"" + id_hex +
                                 "\"; received=\"0\"; sent=0; replay_from=1");
  ASSERT_TRUE(quoted);
  EXPECT_EQ(quoted->resume, (resume_point{sample_id(), 0, 0, 1}));
  // A round trip.
  const offer o{resume_point{sample_id(), max_seq, 5, 6}};
  EXPECT_EQ(find_offer(format_offer(o)), o);
}

TEST(offer, malformed_ones_are_declined) {
  const std::string s = "closewise-resume; session=" + id_hex;
  for (const std::string& bad : {
           s,                                                         // incomplete
           s + "; received=1; sent=2",                                // no replay_from
           s + "; received=1; sent=2; replay_from=1; received=1",     // repeated
           s + "; received=01; sent=2; replay_from=1",                // leading zero
           s + "; received=-1; sent=2; replay_from=1",                // sign
           s + "; received=9007199254740992; sent=2; replay_from=1",  // > max_seq
           s + "; received=1; sent=2; replay_from=0",                 // replay_from < 1
           s + "; received=1; sent=2; replay_from=4",                 // replay_from > sent+1
           s + "; received=1; sent=2; replay_from=1; status=new",     // answer-only
           s + "; received=1; sent=2; replay_from=1; extra=1",        // unknown
           s + "; received; sent=2; replay_from=1",                   // no value
           std::string("closewise-resume; session=xyz; received=1; sent=2; replay_from=1"),
           std::string("closewise-resume; received=1"),
       })
    EXPECT_EQ(find_offer(bad), std::nullopt) << bad;
  // The first closewise-resume element decides, even if a later one is good.
  EXPECT_EQ(find_offer("closewise-resume; bogus=1, closewise-resume"), std::nullopt);
  EXPECT_EQ(find_offer("closewise-resume, closewise-resume; bogus=1"), offer{});
}

TEST(answer, formats_exactly) {
  EXPECT_EQ(format_answer({sample_id(), resume_status::fresh, {}, {}}),
            "closewise-resume; session=" + id_hex + "; status=new");
  EXPECT_EQ(format_answer({sample_id(), resume_status::resumed, 3, 2}),
            "closewise-resume; session=" + id_hex + "; status=resumed; received=3; sent=2");
  EXPECT_EQ(format_answer({sample_id(), resume_status::overflowed, 2, 6}),
            "closewise-resume; session=" + id_hex + "; status=overflowed; received=2; sent=6");
}

TEST(answer, is_read_and_checked) {
  std::optional<answer> a;
  ASSERT_FALSE(find_answer({}, a));
  EXPECT_EQ(a, std::nullopt);
  for (auto st :
       {resume_status::fresh, resume_status::resumed, resume_status::expired, resume_status::ended,
        resume_status::unknown, resume_status::overflowed, resume_status::invalid}) {
    const bool counted = st == resume_status::resumed || st == resume_status::overflowed ||
                         st == resume_status::invalid;
    const answer want{sample_id(), st, counted ? std::optional<seq>(4) : std::nullopt,
                      counted ? std::optional<seq>(9) : std::nullopt};
    ASSERT_FALSE(find_answer({format_answer(want)}, a)) << to_string(st);
    EXPECT_EQ(a, want) << to_string(st);
    EXPECT_EQ(parse_resume_status(to_string(st)), st);
  }
  const std::string s = "closewise-resume; session=" + id_hex;
  for (const std::string& bad : {
           s,                                            // no status
           s + "; status=resumed",                       // no counts
           s + "; status=resumed; received=1",           // one count
           s + "; status=new; received=1; sent=1",       // counts where none belong
           s + "; status=expired; sent=1",               //
           s + "; status=bogus",                         //
           s + "; status=new; status=new",               //
           s + "; status=new; replay_from=1",            // offer-only
           std::string("closewise-resume; status=new"),  // no session
       }) {
    EXPECT_EQ(find_answer({bad}, a), error::bad_extension) << bad;
  }
  // Answered twice (RFC 6455 §9.1).
  EXPECT_EQ(find_answer({s + "; status=new", s + "; status=new"}, a), error::bad_extension);
}

TEST(resume_errors, refusals_map_to_distinct_errors_and_one_condition) {
  EXPECT_EQ(to_error(resume_status::fresh), std::error_code());
  EXPECT_EQ(to_error(resume_status::resumed), std::error_code());
  const std::vector<std::pair<resume_status, error>> refusals = {
      {resume_status::expired, error::resume_expired},
      {resume_status::ended, error::resume_ended},
      {resume_status::unknown, error::resume_unknown},
      {resume_status::overflowed, error::resume_overflowed},
      {resume_status::invalid, error::resume_invalid}};
  for (const auto& [st, e] : refusals) {
    EXPECT_EQ(to_error(st), e);
    EXPECT_EQ(status_of(e), st);
    EXPECT_EQ(std::error_code(e), condition::resume_failed);
    EXPECT_FALSE(std::error_code(e).message().empty());
  }
  EXPECT_EQ(status_of(error::resume_store_unavailable), std::nullopt);
  EXPECT_EQ(std::error_code(error::resume_not_supported), condition::resume_failed);
  EXPECT_EQ(std::error_code(error::replay_buffer_full), condition::backpressure);
  EXPECT_EQ(std::error_code(error::resume_ack_timeout), condition::timeout);
  EXPECT_EQ(std::error_code(error::resume_evicted).message(), "evicted from the replay buffer");
  EXPECT_EQ(std::error_condition(condition::resume_failed).message(), "session resume failed");
}

}  // namespace closewise::resume
