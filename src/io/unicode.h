// UTF-8 helpers shared by the tokenizer: validation, lossy repair (exactly as Rust's String::from_utf8_lossy, which
// the reference tokenizer uses), and the GPT-2 byte <-> printable-char table of byte-level BPE.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace glint::unicode {

// Offset of the first byte that is not part of well-formed UTF-8, or nullopt when all of it is well formed.
std::optional<size_t> find_invalid_utf8(std::string_view bytes);
inline bool is_valid_utf8(std::string_view bytes) { return !find_invalid_utf8(bytes).has_value(); }

// Replaces each maximal ill-formed subsequence with U+FFFD (one per subsequence), like from_utf8_lossy.
std::string repair_utf8_lossy(std::string_view bytes);

// Number of trailing bytes that start a UTF-8 sequence which is still incomplete but could become valid with
// more bytes (0 when the text ends on a character boundary or with bytes that can never become valid).
size_t incomplete_utf8_tail(std::string_view bytes);

// Writes the UTF-8 bytes of `cp` (at most 4) to `out` and returns how many.
inline size_t encode_utf8(char32_t cp, char* out) {
  if (cp < 0x80) {
    out[0] = static_cast<char>(cp);
    return 1;
  }
  if (cp < 0x800) {
    out[0] = static_cast<char>(0xC0 | (cp >> 6));
    out[1] = static_cast<char>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = static_cast<char>(0xE0 | (cp >> 12));
    out[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<char>(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = static_cast<char>(0xF0 | (cp >> 18));
  out[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
  out[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  out[3] = static_cast<char>(0x80 | (cp & 0x3F));
  return 4;
}
void append_utf8(std::string& out, char32_t code_point);
// Decodes the character at `pos` of well-formed UTF-8 and advances `pos` past it.
char32_t next_code_point(std::string_view text, size_t& pos);
// Byte length of the well-formed UTF-8 character starting with `lead`.
inline size_t utf8_length_from_lead(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// Unicode White_Space property (what Rust's char::is_whitespace tests).
bool is_white_space(char32_t code_point);

// GPT-2 byte-level alphabet: each byte maps to one printable character (as UTF-8 text).
const std::array<std::string, 256>& byte_to_level_char();
// The byte a byte-level character stands for, or -1 when the character is not in the alphabet.
int level_char_to_byte(char32_t code_point);

}  // namespace glint::unicode
