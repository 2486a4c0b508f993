#include "io/tokenizer_llama3_split.h"

#include <array>
#include <map>
#include <string>

#include "core/error.h"
#include "io/tokenizer_pattern.h"
#include "io/unicode.h"

namespace glint::tokenizer_detail {

namespace {
constexpr std::string_view kLlama3SplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr char32_t kMaxCodePoint = 0x10FFFF;

bool is_line_break(char32_t c) { return c == '\r' || c == '\n'; }
}  // namespace

bool is_llama3_split_pattern(std::string_view pattern) { return pattern == kLlama3SplitPattern; }

const Llama3Splitter* Llama3Splitter::instance() {
  static const Llama3Splitter splitter;
  return splitter.classes_disjoint_ ? &splitter : nullptr;
}

Llama3Splitter::Llama3Splitter() {
  // Every code point (surrogates excepted) once, in order, as UTF-8; each class regex then marks the code
  // points it matches. The classes are spelled as in the pattern, so Regex's \s translation applies alike.
  constexpr size_t kAllBytes = 0x80 * 1 + (0x800 - 0x80) * 2 + (0x10000 - 0x800 - 0x800) * 3 + 0x100000 * 4;
  std::string all(kAllBytes, '\0');
  size_t length = 0;
  for (char32_t c = 0; c <= kMaxCodePoint; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    length += unicode::encode_utf8(c, all.data() + length);
  }
  GLINT_CHECK(length == kAllBytes, "Llama 3 split tables: code points take ", length, " bytes");
  std::vector<uint8_t> kinds(kMaxCodePoint + 1, 0);
  auto mark = [&](const std::string& pattern, uint8_t kind) {
    for (const auto& [begin, end] : Regex(pattern, RegexEngine::kPcre2).find_all(all)) {
      for (size_t pos = begin; pos < end;) kinds[unicode::next_code_point(all, pos)] |= kind;
    }
  };
  mark(R"(\p{L}+)", kLetter);
  mark(R"(\p{N}+)", kNumber);
  mark(R"(\s+)", kSpace);

  constexpr size_t kBlocks = (kMaxCodePoint + 1) >> 8;
  block_of_.resize(kBlocks);
  std::map<std::basic_string_view<uint8_t>, uint16_t> seen;
  for (size_t block = 0; block < kBlocks; ++block) {
    const std::basic_string_view<uint8_t> entries(kinds.data() + block * 256, 256);
    auto [it, inserted] = seen.emplace(entries, static_cast<uint16_t>(seen.size()));
    if (inserted) blocks_.insert(blocks_.end(), entries.begin(), entries.end());
    block_of_[block] = it->second;
  }
  for (char32_t c = 0; c < 128; ++c) ascii_kind_[c] = kinds[c];
  for (uint8_t kind : kinds) {
    // Letters, numbers and white space are disjoint in Unicode; the matcher relies on it.
    if (kind != 0 && kind != kLetter && kind != kNumber && kind != kSpace) classes_disjoint_ = false;
  }
}

inline Llama3Splitter::Char Llama3Splitter::char_at(std::string_view text, size_t pos) const {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return {lead, 1, ascii_kind_[lead]};
  // Well-formed UTF-8 (checked once on entry to the tokenizer).
  char32_t c;
  uint32_t length;
  if (lead < 0xE0) {
    c = (char32_t{lead} & 0x1F) << 6 | (byte(1) & 0x3F);
    length = 2;
  } else if (lead < 0xF0) {
    c = (char32_t{lead} & 0x0F) << 12 | (char32_t{byte(1)} & 0x3F) << 6 | (byte(2) & 0x3F);
    length = 3;
  } else {
    c = (char32_t{lead} & 0x07) << 18 | (char32_t{byte(1)} & 0x3F) << 12 | (char32_t{byte(2)} & 0x3F) << 6 |
        (byte(3) & 0x3F);
    length = 4;
  }
  return {c, length, kind_of(c)};
}

inline size_t Llama3Splitter::run_end(std::string_view text, size_t pos, uint8_t kind) const {
  while (pos < text.size()) {
    const unsigned char lead = static_cast<unsigned char>(text[pos]);
    if (lead < 0x80) {
      if (ascii_kind_[lead] != kind) break;
      ++pos;
      continue;
    }
    const Char c = char_at(text, pos);
    if (c.kind != kind) break;
    pos += c.length;
  }
  return pos;
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d) after the apostrophe; 0 when none matches. Caseless matching in PCRE2's UTF
// mode also lets U+017F (long s) match 's'; none of the other letters has a non-ASCII case variant.
size_t Llama3Splitter::contraction_end(std::string_view text, size_t pos) const {
  const auto lower = [&](size_t i) -> int {
    return i < text.size() ? (static_cast<unsigned char>(text[i]) | 0x20) : -1;
  };
  switch (lower(pos)) {
    case 's':
    case 't':
    case 'm':
    case 'd':
      return pos + 1;
    case 'r':
    case 'v':
      return lower(pos + 1) == 'e' ? pos + 2 : 0;
    case 'l':
      return lower(pos + 1) == 'l' ? pos + 2 : 0;
    default:
      break;
  }
  const bool long_s = pos + 1 < text.size() && static_cast<unsigned char>(text[pos]) == 0xC5 &&
                      static_cast<unsigned char>(text[pos + 1]) == 0xBF;
  return long_s ? pos + 2 : 0;
}

// Why q (after '\n', before a printable ASCII character c, which is not white space) is a true match boundary
// that no match depends on beyond: the '\n' is either the end of a white-space run, which then ends at its last
// line break (\s*[\r\n]+), or the [\r\n]* tail of a symbol run; both end at q, whether c or the end of the text
// follows. Letter, number and symbol runs and contractions never include or look past a '\n', so matches that
// end before it are found alike in text[..q). And every match is fixed by where it starts, so from q on the
// search is the same too.
size_t Llama3Splitter::independent_start(std::string_view text, size_t from) {
  for (size_t q = text.find('\n', from == 0 ? 0 : from - 1); q != std::string_view::npos; q = text.find('\n', q + 1)) {
    if (q + 1 < text.size() && text[q + 1] > ' ' && text[q + 1] < 0x7F) return q + 1;
  }
  return std::string_view::npos;
}

size_t Llama3Splitter::match_end(std::string_view text, size_t begin) const {
  const size_t size = text.size();
  const Char first = char_at(text, begin);
  const size_t second = begin + first.length;
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (first.code_point == '\'' && second < size) {
    if (const size_t end = contraction_end(text, second)) return end;
  }
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (first.kind == kLetter) return run_end(text, second, kLetter);
  const bool may_prefix = first.kind != kNumber && !is_line_break(first.code_point);
  if (may_prefix && second < size && char_at(text, second).kind == kLetter) return run_end(text, second, kLetter);
  // \p{N}{1,3}
  if (first.kind == kNumber) {
    size_t end = second;
    for (int count = 1; count < 3 && end < size; ++count) {
      const Char c = char_at(text, end);
      if (c.kind != kNumber) break;
      end += c.length;
    }
    return end;
  }
  //  ?[^\s\p{L}\p{N}]+[\r\n]*
  size_t symbols_end = 0;
  if (first.kind == 0) {
    symbols_end = run_end(text, second, 0);
  } else if (first.code_point == ' ' && second < size && char_at(text, second).kind == 0) {
    symbols_end = run_end(text, second, 0);
  }
  if (symbols_end) {
    while (symbols_end < size && is_line_break(static_cast<unsigned char>(text[symbols_end]))) ++symbols_end;
    return symbols_end;
  }
  // The first character is white space. Over its run: \s*[\r\n]+ ends after the run's last line break;
  // else \s+(?!\S) takes the whole run at the end of the text, or all of it but the last character when
  // more than one precedes a non-space; else \s+ takes the one character.
  size_t pos = begin, last_char = begin, after_last_break = 0;
  while (pos < size) {
    const Char c = char_at(text, pos);
    if (c.kind != kSpace) break;
    if (is_line_break(c.code_point)) after_last_break = pos + 1;
    last_char = pos;
    pos += c.length;
  }
  if (after_last_break) return after_last_break;
  if (pos == size) return size;
  return last_char > begin ? last_char : pos;
}

}  // namespace glint::tokenizer_detail
