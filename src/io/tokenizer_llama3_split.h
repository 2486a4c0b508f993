// A hand-written matcher for the pre-tokenizer regex of Llama 3 (the GPT-4 / cl100k split):
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// Regex uses it instead of PCRE2 when a pattern is exactly this string: it finds the same matches several times
// faster. Its character classes (\p{L}, \p{N}, \s) are read off PCRE2 itself once per process, so the two
// engines agree on every code point whatever Unicode version PCRE2 was built with.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace glint::tokenizer_detail {

// True when `pattern` is the Llama 3 split regex above, character for character.
bool is_llama3_split_pattern(std::string_view pattern);

class Llama3Splitter {
 public:
  // Built on first use (tens of ms); nullptr in the (Unicode-impossible) case that PCRE2's classes overlap.
  static const Llama3Splitter* instance();

  // End of the leftmost-first match beginning at `begin` (< text.size(), on a character start). Every
  // character starts a match of at least one character, so the matches of a search tile the text and each
  // match depends only on where it begins.
  size_t match_end(std::string_view text, size_t begin) const;

  // The first position q >= from (q > 0) right after a '\n' and before a printable ASCII character, or npos.
  // A search of text[..q) finds exactly the true matches that end by q, and one from q the rest: no match
  // crosses or peeks across such a q (see the .cpp). Lets a large text be split into parts searched alone.
  static size_t independent_start(std::string_view text, size_t from);

 private:
  Llama3Splitter();

  enum : uint8_t { kLetter = 1, kNumber = 2, kSpace = 4 };  // \p{L}, \p{N}, \s (as PCRE2 sees them)
  struct Char {
    char32_t code_point;
    uint32_t length;  // bytes
    uint8_t kind;     // kLetter / kNumber / kSpace bits, 0 for anything else
  };
  [[gnu::always_inline]] Char char_at(std::string_view text, size_t pos) const;
  uint8_t kind_of(char32_t code_point) const {
    return blocks_[static_cast<size_t>(block_of_[code_point >> 8]) * 256 + (code_point & 0xFF)];
  }
  size_t contraction_end(std::string_view text, size_t after_apostrophe) const;
  // End of the run of characters of `kind` from `pos`. Both helpers are inlined: the walk is the hot loop.
  [[gnu::always_inline]] size_t run_end(std::string_view text, size_t pos, uint8_t kind) const;

  // Two-level table: block_of_[cp >> 8] picks a 256-entry block of kinds (identical blocks stored once).
  std::vector<uint16_t> block_of_;
  std::vector<uint8_t> blocks_;
  uint8_t ascii_kind_[128] = {};
  bool classes_disjoint_ = true;
};

}  // namespace glint::tokenizer_detail
