// The network layer stays readable (issue 15): no file under src/net over 500
// lines, no function over 80, and every teardown decision in one file, marked
// `decide:` so that one grep finds them all.
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

constexpr std::size_t max_file_lines = 500;
constexpr std::size_t max_function_lines = 80;

std::vector<fs::path> net_sources() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(fs::path(CLOSEWISE_SOURCE_DIR) / "src" / "net")) {
    const auto ext = e.path().extension();
    if (ext == ".cpp" || ext == ".hpp") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The text with comments, string and character literals blanked (newlines
/// kept), so braces inside them do not count.
std::string code_only(const std::string& t) {
  std::string o = t;
  auto blank = [&](std::size_t from, std::size_t to) {
    for (std::size_t k = from; k < to && k < o.size(); ++k)
      if (o[k] != '\n') o[k] = ' ';
  };
  std::size_t i = 0;
  while (i < t.size()) {
    if (t.compare(i, 2, "//") == 0) {
      const auto e = t.find('\n', i);
      blank(i, e == std::string::npos ? t.size() : e);
      i = e == std::string::npos ? t.size() : e;
    } else if (t.compare(i, 2, "/*") == 0) {
      const auto e = t.find("*/", i + 2);
      blank(i, e == std::string::npos ? t.size() : e + 2);
      i = e == std::string::npos ? t.size() : e + 2;
    } else if (t.compare(i, 2, "R\"") == 0) {
      const auto open = t.find('(', i);
      const std::string close = ")" + t.substr(i + 2, open - i - 2) + "\"";
      const auto e = t.find(close, open);
      blank(i, e + close.size());
      i = e + close.size();
    } else if (t[i] == '"' ||
               (t[i] == '\'' && (i == 0 || !std::isxdigit(static_cast<unsigned char>(t[i - 1]))))) {
      const char q = t[i];
      std::size_t j = i + 1;
      while (j < t.size() && t[j] != q) j += t[j] == '\\' ? 2 : 1;
      blank(i, j + 1);
      i = j + 1;
    } else {
      ++i;
    }
  }
  return o;
}

struct long_function {
  std::string where;
  std::size_t lines;
};

/// Function bodies longer than the limit. A brace block at namespace or class
/// level whose header has a parameter list is a function; blocks inside it
/// (lambdas, loops) count towards it.
std::vector<long_function> long_functions(const fs::path& p) {
  const std::string code = code_only(read(p));
  enum class kind { scope, function, inner };
  struct block {
    kind k;
    std::size_t line;
    std::string header;
  };
  std::vector<block> stack;
  std::vector<long_function> out;
  std::string header;
  std::size_t line = 1;
  for (char c : code) {
    if (c == '\n') ++line;
    if (c == '{') {
      kind k = kind::inner;
      if (stack.empty() || stack.back().k == kind::scope) {
        // Drop template parameter lists, then look at what the block opens.
        const std::string h =
            std::regex_replace(header, std::regex(R"(template\s*<[^{;]*?>\s)"), " ");
        const auto paren = h.find('(');
        static const std::regex scope_word(R"(\b(namespace|class|struct|union|enum)\b)");
        std::smatch m;
        const bool scope =
            std::regex_search(h, m, scope_word) &&
            (paren == std::string::npos || static_cast<std::size_t>(m.position(0)) < paren);
        k = scope ? kind::scope : (paren != std::string::npos ? kind::function : kind::inner);
      }
      stack.push_back({k, line, header});
      header.clear();
    } else if (c == '}') {
      if (!stack.empty()) {
        const block b = stack.back();
        stack.pop_back();
        const std::size_t n = line - b.line + 1;
        if (b.k == kind::function && n > max_function_lines) {
          std::string h = std::regex_replace(b.header, std::regex(R"(\s+)"), " ");
          out.push_back(
              {p.filename().string() + ":" + std::to_string(b.line) + " " + h.substr(0, 120), n});
        }
      }
      header.clear();
    } else if (c == ';') {
      header.clear();
    } else {
      header += c;
    }
  }
  return out;
}

TEST(source_size, no_file_under_src_net_is_over_500_lines) {
  const auto files = net_sources();
  ASSERT_GT(files.size(), 10u) << "src/net not found under " << CLOSEWISE_SOURCE_DIR;
  for (const auto& f : files) {
    const std::string t = read(f);
    const auto lines = static_cast<std::size_t>(std::count(t.begin(), t.end(), '\n'));
    EXPECT_LE(lines, max_file_lines) << f.filename() << ": split it along its concepts";
  }
}

TEST(source_size, no_function_under_src_net_is_over_80_lines) {
  for (const auto& f : net_sources()) {
    for (const auto& l : long_functions(f)) {
      ADD_FAILURE() << l.where << ": " << l.lines << " lines (at most " << max_function_lines
                    << ")";
    }
  }
}

// The scanner itself: a long function is found, braces in strings, comments
// and lambdas are not mistaken for functions of their own.
TEST(source_size, the_function_scanner_counts_what_it_should) {
  const fs::path tmp = fs::temp_directory_path() / "closewise_source_size_probe.cpp";
  {
    std::ofstream o(tmp);
    o << "namespace x {\nstruct s {\n  int f() const {\n    return 1;\n  }\n};\n"
      << "template <class T>\nvoid g(T t) {\n  auto l = [] { return '{'; };\n  // }\n  const char* "
         "s = \"}}\";\n";
    for (int i = 0; i < 80; ++i) o << "  t();\n";
    o << "}\n}  // namespace x\n";
  }
  const auto found = long_functions(tmp);
  fs::remove(tmp);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].where.find("void g(T t)"), std::string::npos) << found[0].where;
  EXPECT_EQ(found[0].lines, 85u);
}

TEST(source_size, teardown_is_decided_in_one_file) {
  std::size_t decisions = 0;
  for (const auto& f : net_sources()) {
    const std::string t = read(f);
    std::size_t n = 0;
    for (auto at = t.find("// decide:"); at != std::string::npos; at = t.find("// decide:", at + 1))
      ++n;
    if (f.filename() == "transport_lifecycle.cpp") {
      decisions = n;
    } else {
      EXPECT_EQ(n, 0u) << f.filename()
                       << " decides a teardown step; that belongs in transport_lifecycle.cpp";
    }
  }
  EXPECT_GE(decisions, 10u)
      << "grep -n 'decide:' src/net/transport_lifecycle.cpp lists the teardown rules";
}

}  // namespace
