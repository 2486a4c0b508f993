#include "io/tokenizer_pattern.h"

#include <algorithm>
#include <optional>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.h"
#include "core/thread_pool.h"
#include "io/tokenizer_llama3_split.h"

namespace glint::tokenizer_detail {

struct Regex::Compiled {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Compiled() {
    if (code) pcre2_code_free(code);
  }
};

namespace {
struct MatchData {
  pcre2_match_data* data;
  explicit MatchData(const pcre2_code* code) : data(pcre2_match_data_create_from_pattern(code, nullptr)) {
    GLINT_CHECK(data, "out of memory creating regex match data");
  }
  ~MatchData() { pcre2_match_data_free(data); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
};
}  // namespace

namespace {

// PCRE2's \s (in UCP mode) also matches U+180E, which Oniguruma (the reference's engine) and Unicode's
// White_Space no longer count as space; spell \s out as White_Space so both engines agree.
std::string with_onig_whitespace(const std::string& pattern) {
  static constexpr std::string_view kSpaceItems = R"(\t-\r\x{85}\p{Z})";
  std::string out;
  out.reserve(pattern.size() + 32);
  bool in_class = false;
  size_t class_start = 0;  // index of the first member of the current class
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[i + 1];
      if (next == 'Q') {  // \Q...\E is literal text
        const size_t end = pattern.find("\\E", i + 2);
        const size_t stop = end == std::string::npos ? pattern.size() : end + 2;
        out.append(pattern, i, stop - i);
        i = stop - 1;
        continue;
      }
      if (next == 's') {
        if (in_class) {
          out.append(kSpaceItems);
        } else {
          out.append("[").append(kSpaceItems).append("]");
        }
        ++i;
        continue;
      }
      if (next == 'S' && !in_class) {
        out.append("[^").append(kSpaceItems).append("]");
        ++i;
        continue;
      }
      out.push_back(c);
      out.push_back(next);
      ++i;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out.push_back(c);
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out.push_back(pattern[++i]);
      class_start = i + 1;
      continue;
    }
    if (in_class && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {  // [:alpha:]
      const size_t end = pattern.find(":]", i + 2);
      if (end != std::string::npos) {
        out.append(pattern, i, end + 2 - i);
        i = end + 1;
        continue;
      }
    }
    if (in_class && c == ']' && i != class_start) in_class = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

Regex::Regex(const std::string& pattern, RegexEngine engine) : source_(pattern) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  auto compiled = std::make_shared<Compiled>();
  const std::string translated = with_onig_whitespace(pattern);
  compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                 PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (!compiled->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    fail("invalid regex '", pattern, "' at offset ", error_offset, ": ", reinterpret_cast<const char*>(message));
  }
  compiled->jit = pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE) == 0;
  compiled_ = std::move(compiled);
  if (engine == RegexEngine::kAuto && is_llama3_split_pattern(pattern)) llama3_splitter_ = Llama3Splitter::instance();
}

namespace {

using Match = std::pair<size_t, size_t>;

// A left-to-right search for matches as find_all makes it. Once a match is accepted, what follows depends only
// on that match (the search restarts at its end), which is what lets parts of a text be searched in parallel.
class MatchScan {
 public:
  MatchScan(const pcre2_code* code, bool jit, const std::string& source, std::string_view text, size_t from)
      : code_(code), jit_(jit), source_(source), text_(text), match_(code), search_from_(from) {}

  // The next accepted match; false at the end of the text.
  bool next(Match& found) {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text_.data());
    // The text was validated as UTF-8 once on entry to the tokenizer, so PCRE2 need not check it every call.
    const uint32_t options = PCRE2_NO_UTF_CHECK;
    while (search_from_ <= text_.size()) {
      const int rc = jit_ ? pcre2_jit_match(code_, subject, text_.size(), search_from_, options, match_.data, nullptr)
                          : pcre2_match(code_, subject, text_.size(), search_from_, options, match_.data, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) return false;
      if (rc < 0) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(rc, message, sizeof(message));
        fail("regex '", source_, "' failed: ", reinterpret_cast<const char*>(message));
      }
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_.data);
      const size_t begin = ovector[0], end = ovector[1];
      if (begin == end && have_previous_ && previous_end_ == end) {
        // Same rule as the onig crate: step one character past an empty match that touches the previous one.
        if (search_from_ >= text_.size()) return false;
        search_from_ += unicode::utf8_length_from_lead(static_cast<unsigned char>(text_[search_from_]));
        continue;
      }
      found = {begin, end};
      resume_after(found);
      return true;
    }
    return false;
  }
  // Continues as if `accepted` had just been returned by next().
  void resume_after(const Match& accepted) {
    have_previous_ = true;
    previous_end_ = accepted.second;
    search_from_ = accepted.second;
  }

 private:
  const pcre2_code* code_;
  bool jit_;
  const std::string& source_;
  std::string_view text_;
  MatchData match_;
  size_t search_from_;
  bool have_previous_ = false;
  size_t previous_end_ = 0;
};

// The same search for the Llama 3 split regex with the hand-written matcher: every character starts a
// non-empty match, so the matches tile the text.
class HandScan {
 public:
  HandScan(const Llama3Splitter& splitter, std::string_view text, size_t from)
      : splitter_(splitter), text_(text), position_(from) {}
  bool next(Match& found) {
    if (position_ >= text_.size()) return false;
    const size_t end = splitter_.match_end(text_, position_);
    found = {position_, end};
    position_ = end;
    return true;
  }
  void resume_after(const Match& accepted) { position_ = accepted.second; }

 private:
  const Llama3Splitter& splitter_;
  std::string_view text_;
  size_t position_;
};

// Texts at least this long are searched in parallel parts.
constexpr size_t kParallelSearchBytes = size_t{1} << 18;

// Part boundaries for a parallel search: about equal parts, each moved to just after a line break when one
// is near (searches from there usually fall in step with the true one at once), else to a character start.
std::vector<size_t> part_starts(std::string_view text, size_t parts) {
  std::vector<size_t> starts{0};
  for (size_t k = 1; k < parts; ++k) {
    size_t cut = text.size() * k / parts;
    const size_t newline = text.find('\n', cut);
    if (newline != std::string_view::npos && newline - cut < 4096) {
      cut = newline + 1;
    } else {
      while (cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) ++cut;
    }
    if (cut > starts.back() && cut < text.size()) starts.push_back(cut);
  }
  return starts;
}

// All matches of the scans `make_scan(from)` makes (MatchScan or HandScan), in parallel parts for a large text.
template <typename MakeScan>
std::vector<Match> search_all(std::string_view text, MakeScan make_scan) {
  std::vector<Match> matches;
  const int threads = thread_count();
  if (text.size() < kParallelSearchBytes || threads < 2) {
    auto scan = make_scan(0);
    for (Match found; scan.next(found);) matches.push_back(found);
    return matches;
  }
  // Each part is searched from its own start (on its own thread), up to the first match that begins
  // in the next part. The true search (from the text's start) then adopts a part's matches from the first
  // one it also finds: from an accepted match on, both searches make the same steps. Where they never meet,
  // the true search simply continues through the part itself.
  const std::vector<size_t> starts = part_starts(text, static_cast<size_t>(threads) * 4);
  const size_t parts = starts.size();
  std::vector<std::vector<Match>> part_matches(parts);
  std::vector<std::optional<Match>> beyond(parts);  // first match found beginning in a later part
  parallel_for(static_cast<int64_t>(parts), 1, [&](int64_t first, int64_t last) {
    for (auto k = static_cast<size_t>(first); k < static_cast<size_t>(last); ++k) {
      const size_t limit = k + 1 < parts ? starts[k + 1] : text.size() + 1;
      auto scan = make_scan(starts[k]);
      for (Match found; scan.next(found);) {
        if (found.first >= limit) {
          beyond[k] = found;
          break;
        }
        part_matches[k].push_back(found);
      }
    }
  });
  matches = std::move(part_matches[0]);
  std::optional<Match> carry = beyond[0];  // the true search's next match, beginning in a later part
  for (size_t k = 1; k < parts && carry; ++k) {
    const size_t limit = k + 1 < parts ? starts[k + 1] : text.size() + 1;
    if (carry->first >= limit) continue;  // nothing of the true search begins in this part
    const std::vector<Match>& speculative = part_matches[k];
    auto meet = std::lower_bound(speculative.begin(), speculative.end(), *carry);
    if (meet != speculative.end() && *meet == *carry) {
      matches.insert(matches.end(), meet, speculative.end());
      carry = beyond[k];
      continue;
    }
    auto scan = make_scan(carry->second);
    scan.resume_after(*carry);
    matches.push_back(*carry);
    carry.reset();
    for (Match found; scan.next(found);) {
      if (found.first >= limit) {
        carry = found;
        break;
      }
      matches.push_back(found);
    }
  }
  return matches;
}

}  // namespace

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
  if (llama3_splitter_) {
    return search_all(text, [&](size_t from) { return HandScan(*llama3_splitter_, text, from); });
  }
  return search_all(text, [&](size_t from) {
    return MatchScan(compiled_->code, compiled_->jit, source_, text, from);
  });
}

void Regex::for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& visit) const {
  Match found;
  if (llama3_splitter_) {
    for (HandScan scan(*llama3_splitter_, text, 0); scan.next(found);) visit(found.first, found.second);
    return;
  }
  for (MatchScan scan(compiled_->code, compiled_->jit, source_, text, 0); scan.next(found);) {
    visit(found.first, found.second);
  }
}

bool Regex::matches_at_start(std::string_view text) const {
  MatchData match(compiled_->code);
  const int rc = pcre2_match(compiled_->code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0,
                             PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, match.data, nullptr);
  if (rc < 0) return false;
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.data);
  return ovector[1] > ovector[0];
}

Pattern Pattern::literal(std::string text) {
  Pattern pattern;
  pattern.literal_ = std::move(text);
  return pattern;
}

Pattern Pattern::regex(const std::string& source) {
  Pattern pattern;
  pattern.regex_ = std::make_shared<Regex>(source);
  return pattern;
}

std::vector<std::pair<size_t, size_t>> Pattern::find_matches(std::string_view text) const {
  if (regex_) return regex_->find_all(text);
  std::vector<std::pair<size_t, size_t>> matches;
  if (!literal_.empty()) {
    for (size_t pos = text.find(literal_); pos != std::string_view::npos; pos = text.find(literal_, pos)) {
      matches.emplace_back(pos, pos + literal_.size());
      pos += literal_.size();
    }
  }
  return matches;
}

void Pattern::for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& visit) const {
  if (regex_) {
    regex_->for_each_match(text, visit);
    return;
  }
  for (const auto& [begin, end] : find_matches(text)) visit(begin, end);
}

std::vector<Segment> Pattern::find_segments(std::string_view text) const {
  if (text.empty()) return {{0, 0, false}};
  const std::vector<std::pair<size_t, size_t>> matches = find_matches(text);
  std::vector<Segment> segments;
  segments.reserve(matches.size() * 2 + 1);
  size_t previous = 0;
  for (const auto& [begin, end] : matches) {
    if (previous != begin) segments.push_back({previous, begin, false});
    segments.push_back({begin, end, true});
    previous = end;
  }
  if (previous != text.size()) segments.push_back({previous, text.size(), false});
  return segments;
}

std::string Pattern::replace_all(std::string_view text, std::string_view replacement) const {
  std::string out;
  out.reserve(text.size());
  if (!regex_ && !literal_.empty()) {  // the common case (Gemma: " " -> U+2581), without a segment list
    size_t previous = 0;
    for (size_t pos = text.find(literal_); pos != std::string_view::npos; pos = text.find(literal_, previous)) {
      out.append(text.substr(previous, pos - previous)).append(replacement);
      previous = pos + literal_.size();
    }
    out.append(text.substr(previous));
    return out;
  }
  for (const Segment& segment : find_segments(text)) {
    if (segment.is_match) {
      out.append(replacement);
    } else {
      out.append(text.substr(segment.begin, segment.end - segment.begin));
    }
  }
  return out;
}

SplitBehavior parse_split_behavior(const std::string& name) {
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  fail("unknown split behavior '", name, "'");
}

std::vector<std::pair<size_t, size_t>> apply_split_behavior(std::vector<Segment> segments, SplitBehavior behavior) {
  std::vector<std::pair<size_t, size_t>> kept;
  kept.reserve(segments.size());
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const Segment& s : segments) kept.emplace_back(s.begin, s.end);
      break;
    case SplitBehavior::kRemoved:
      for (const Segment& s : segments)
        if (!s.is_match) kept.emplace_back(s.begin, s.end);
      break;
    case SplitBehavior::kContiguous: {
      bool previous_match = false;
      for (const Segment& s : segments) {
        if (s.is_match == previous_match && !kept.empty()) {
          kept.back().second = s.end;
        } else {
          kept.emplace_back(s.begin, s.end);
        }
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const Segment& s : segments) {
        if (s.is_match && !previous_match && !kept.empty()) {
          kept.back().second = s.end;
        } else {
          kept.emplace_back(s.begin, s.end);
        }
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous_match = false;
      for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        if (it->is_match && !previous_match && !kept.empty()) {
          kept.back().first = it->begin;
        } else {
          kept.emplace_back(it->begin, it->end);
        }
        previous_match = it->is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    }
  }
  return kept;
}

}  // namespace glint::tokenizer_detail
