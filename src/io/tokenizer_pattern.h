// Patterns used by tokenizer.json components (Split, Replace): a literal string or a PCRE2 regex in UTF+UCP
// mode, plus the split behaviours of the reference library.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace glint::tokenizer_detail {

// A byte range of a string plus whether the pattern matched it (non-matching gaps are listed too).
struct Segment {
  size_t begin = 0, end = 0;
  bool is_match = false;
};

class Llama3Splitter;

// kAuto finds the matches of the Llama 3 split regex with a hand-written matcher (same matches, several times
// faster; see tokenizer_llama3_split.h) and those of any other regex with PCRE2; kPcre2 always uses PCRE2.
enum class RegexEngine { kAuto, kPcre2 };

// A compiled PCRE2 regex (JIT when available). Thread-safe: match data is per call.
class Regex {
 public:
  // Throws glint::Error naming the pattern on a syntax error.
  explicit Regex(const std::string& pattern, RegexEngine engine = RegexEngine::kAuto);
  // Non-overlapping matches left to right, as Oniguruma's find_iter reports them (an empty match right after
  // the previous match is skipped).
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;
  // The matches find_all returns, handed to `visit(begin, end)` one by one as a serial search finds them.
  void for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& visit) const;
  bool matches_at_start(std::string_view text) const;  // anchored match of at least one char
  const std::string& source() const { return source_; }
  bool uses_hand_matcher() const { return llama3_splitter_ != nullptr; }

 private:
  struct Compiled;
  std::shared_ptr<const Compiled> compiled_;
  std::string source_;
  const Llama3Splitter* llama3_splitter_ = nullptr;  // set when find_all uses the hand-written matcher
};

// A Split/Replace pattern: {"String": "..."} or {"Regex": "..."}.
class Pattern {
 public:
  static Pattern literal(std::string text);
  static Pattern regex(const std::string& pattern);
  // Covers the whole text with alternating matching / non-matching segments, like the reference's
  // Pattern::find_matches (an empty text gives one empty non-matching segment).
  std::vector<Segment> find_segments(std::string_view text) const;
  // Just the matches ([begin, end) byte ranges, left to right).
  std::vector<std::pair<size_t, size_t>> find_matches(std::string_view text) const;
  // The same matches handed to `visit(begin, end)` one by one (a serial search, no list).
  void for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& visit) const;
  std::string replace_all(std::string_view text, std::string_view replacement) const;
  bool uses_hand_matcher() const { return regex_ && regex_->uses_hand_matcher(); }

 private:
  std::string literal_;
  std::shared_ptr<Regex> regex_;
};

// Segments where every character satisfying `predicate` is its own match (the reference's char patterns).
template <typename Predicate>
std::vector<Segment> find_char_segments(std::string_view text, Predicate predicate);

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };
SplitBehavior parse_split_behavior(const std::string& name);  // throws on unknown names

// Applies a behaviour to segments; returns the kept [begin, end) ranges (possibly empty ones).
std::vector<std::pair<size_t, size_t>> apply_split_behavior(std::vector<Segment> segments, SplitBehavior behavior);

}  // namespace glint::tokenizer_detail

#include "io/unicode.h"

namespace glint::tokenizer_detail {
template <typename Predicate>
std::vector<Segment> find_char_segments(std::string_view text, Predicate predicate) {
  if (text.empty()) return {{0, 0, false}};
  std::vector<Segment> segments;
  size_t last_offset = 0, pos = 0;
  while (pos < text.size()) {
    const size_t begin = pos;
    const char32_t c = unicode::next_code_point(text, pos);
    if (predicate(c)) {
      if (last_offset < begin) segments.push_back({last_offset, begin, false});
      segments.push_back({begin, pos, true});
      last_offset = pos;
    }
  }
  if (last_offset < text.size()) segments.push_back({last_offset, text.size(), false});
  return segments;
}
}  // namespace glint::tokenizer_detail
