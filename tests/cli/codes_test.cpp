// End-to-end tests of `closewise codes`, run as a subprocess.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>

namespace {

struct run_result {
  int status = -1;
  std::string out;
};

run_result run(const std::string& args) {
  const std::string cmd = std::string(CLOSEWISE_CLI) + " " + args + " 2>&1";
  run_result r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace

TEST(cli_codes, explains_1014_with_peer_notes) {
  const auto r = run("codes 1014");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("1014 Bad Gateway"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("on the wire:  yes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("endpoint/protocol only"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("default:      R:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Boost.Beast, wslay and uWebSockets"), std::string::npos) << r.out;
}

TEST(cli_codes, explains_1005_as_local_only) {
  const auto r = run("codes 1005");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("1005 No Status Rcvd"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("on the wire:  no"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("local only:   yes"), std::string::npos) << r.out;
}

TEST(cli_codes, explains_a_code_inside_a_range) {
  const auto r = run("codes 4001 --json");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("\"code\":4001"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"first\":4000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"action\":\"retry\""), std::string::npos) << r.out;
}

TEST(cli_codes, rejects_bad_arguments_with_one_line_and_nonzero_exit) {
  for (const char* bad : {"codes abc", "codes 70000", "codes -5", "codes --bogus", "codes 1000 1001"}) {
    const auto r = run(bad);
    EXPECT_NE(r.status, 0) << bad;
    EXPECT_EQ(r.out.find("terminate"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("closewise"), std::string::npos) << r.out;
  }
}

TEST(cli_codes, table_lists_every_row) {
  const auto r = run("codes");
  EXPECT_EQ(r.status, 0);
  for (const char* s : {"0-999", "1000", "1015", "1016-2999", "3000-3499", "4500-4999", "5000-65535"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
}

TEST(cli_codes, committed_docs_match_the_registry) {
  const auto r = run("codes --markdown");
  ASSERT_EQ(r.status, 0);
  std::ifstream f(std::string(CLOSEWISE_SOURCE_DIR) + "/docs/close-codes.md");
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_EQ(ss.str(), r.out)
      << "docs/close-codes.md is stale: run `closewise codes --markdown > docs/close-codes.md`";
}
