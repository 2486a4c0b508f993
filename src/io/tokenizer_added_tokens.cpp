#include "io/tokenizer_added_tokens.h"

#include <algorithm>

#include "io/tokenizer_pattern.h"
#include "io/unicode.h"

namespace glint::tokenizer_detail {
namespace {

// Word characters as the reference's regex crate sees them (\w), used by single_word.
bool is_word_char(char32_t c) {
  static const Regex word(R"(\w)");
  if (c < 128) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  std::string text;
  unicode::append_utf8(text, c);
  return word.matches_at_start(text);
}

bool ends_with_word(std::string_view text) {
  if (text.empty()) return false;
  size_t pos = text.size() - 1;
  while (pos > 0 && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) --pos;
  return is_word_char(unicode::next_code_point(text, pos));
}

bool starts_with_word(std::string_view text) {
  if (text.empty()) return false;
  size_t pos = 0;
  return is_word_char(unicode::next_code_point(text, pos));
}

// Start of the whitespace run that ends `text`.
size_t trailing_space_start(std::string_view text) {
  size_t start = text.size();
  while (start > 0) {
    size_t pos = start - 1;
    while (pos > 0 && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) --pos;
    size_t probe = pos;
    if (!unicode::is_white_space(unicode::next_code_point(text, probe))) break;
    start = pos;
  }
  return start;
}

// Length of the whitespace run that starts `text`.
size_t leading_space_length(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t next = pos;
    if (!unicode::is_white_space(unicode::next_code_point(text, next))) break;
    pos = next;
  }
  return pos;
}

}  // namespace

void AddedTokenMatcher::build(std::vector<std::string> patterns, std::vector<const AddedToken*> tokens) {
  tokens_ = std::move(tokens);
  edges_.clear();
  terminal_.assign(1, -1);
  std::fill(std::begin(first_byte_), std::end(first_byte_), false);
  for (size_t t = 0; t < patterns.size(); ++t) {
    const std::string& pattern = patterns[t];
    if (pattern.empty()) continue;
    first_byte_[static_cast<unsigned char>(pattern[0])] = true;
    int32_t node = 0;
    for (char c : pattern) {
      const uint64_t key = static_cast<uint64_t>(node) * 256 + static_cast<unsigned char>(c);
      auto it = edges_.find(key);
      if (it == edges_.end()) {
        const auto child = static_cast<int32_t>(terminal_.size());
        terminal_.push_back(-1);
        it = edges_.emplace(key, child).first;
      }
      node = it->second;
    }
    terminal_[node] = static_cast<int32_t>(t);
  }
}

std::vector<AddedTokenMatcher::Match> AddedTokenMatcher::find_leftmost_longest(std::string_view text) const {
  std::vector<Match> matches;
  size_t pos = 0;
  while (pos < text.size()) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    int32_t node = 0;
    int32_t best = -1;
    size_t best_end = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      auto it = edges_.find(static_cast<uint64_t>(node) * 256 + static_cast<unsigned char>(text[i]));
      if (it == edges_.end()) break;
      node = it->second;
      if (terminal_[node] >= 0) {
        best = terminal_[node];
        best_end = i + 1;
      }
    }
    if (best >= 0) {
      matches.push_back({pos, best_end, tokens_[best]});
      pos = best_end;
    } else {
      ++pos;
    }
  }
  return matches;
}

void AddedTokenMatcher::split(Piece piece, Pieces& out) const {
  const std::string& text = piece.text;
  if (tokens_.empty() || text.empty()) {
    if (!text.empty()) out.push_back(std::move(piece));
    return;
  }
  auto emit = [&](size_t begin, size_t end, int32_t id) {
    if (begin >= end) return;
    out.push_back({text.substr(begin, end - begin), id, piece.at_original_start && begin == 0});
  };
  size_t start_offset = 0;
  for (const Match& match : find_leftmost_longest(text)) {
    size_t start = match.begin, stop = match.end;
    const AddedToken& token = *match.token;
    if (token.single_word) {
      const bool space_before = start == 0 || !ends_with_word(std::string_view(text).substr(0, start));
      const bool space_after = stop == text.size() || !starts_with_word(std::string_view(text).substr(stop));
      if (!space_before || !space_after) continue;
    }
    if (token.lstrip) start = std::max(trailing_space_start(std::string_view(text).substr(0, start)), start_offset);
    if (token.rstrip) stop += leading_space_length(std::string_view(text).substr(stop));
    if (start_offset < start) emit(start_offset, start, -1);
    emit(start, stop, token.id);
    start_offset = stop;
  }
  if (start_offset < text.size()) emit(start_offset, text.size(), -1);
}

}  // namespace glint::tokenizer_detail
