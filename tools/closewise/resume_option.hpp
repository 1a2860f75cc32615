// `--resume` for serve and connect (docs/resume.md, issue 13): the session
// store a server keeps, and the JSON events both commands print.
#pragma once

#include <memory>
#include <string>

#include <closewise/net/resume.hpp>
#include <nlohmann/json.hpp>

namespace closewise::cli {

/// `memory` or `redis://HOST:PORT`; sets `problem` (and returns null) otherwise.
std::shared_ptr<resume::session_store> make_resume_store(const std::string& spec,
                                                         std::string& problem);

/// connect: {"event":"resumed","replayed_out":N,"replayed_in":M},
/// {"event":"resume_failed","reason":"unknown","handed_back":K,"gap":true}, or
/// {"event":"resume_new"} / {"event":"resume_not_supported"}.
nlohmann::json resume_json(const resume::client_outcome& o);
/// serve: the same names for a server connection's negotiation.
nlohmann::json resume_json(const net::server_resume_event& ev);
/// One readable line for either.
std::string describe_resume(const nlohmann::json& j);

}  // namespace closewise::cli
