#include "io/unicode.h"

namespace glint::unicode {
namespace {

// Valid range of the second byte of a sequence, which depends on the lead byte (excludes overlongs,
// surrogates and code points above U+10FFFF); 0 continuation bytes means the lead byte is invalid.
struct LeadInfo {
  int continuation_bytes;
  unsigned char second_low, second_high;
};

LeadInfo lead_info(unsigned char lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return {1, 0x80, 0xBF};
  if (lead == 0xE0) return {2, 0xA0, 0xBF};
  if (lead == 0xED) return {2, 0x80, 0x9F};
  if (lead >= 0xE1 && lead <= 0xEF) return {2, 0x80, 0xBF};
  if (lead == 0xF0) return {3, 0x90, 0xBF};
  if (lead >= 0xF1 && lead <= 0xF3) return {3, 0x80, 0xBF};
  if (lead == 0xF4) return {3, 0x80, 0x8F};
  return {0, 0, 0};
}

enum class SequenceStatus { kValid, kInvalid, kTruncated };

// Checks the sequence starting at `pos`. `length` receives the bytes it spans when valid, or the bytes of the
// maximal ill-formed subpart (at least 1) otherwise.
SequenceStatus check_sequence(std::string_view bytes, size_t pos, size_t& length) {
  const auto lead = static_cast<unsigned char>(bytes[pos]);
  if (lead < 0x80) {
    length = 1;
    return SequenceStatus::kValid;
  }
  const LeadInfo info = lead_info(lead);
  if (info.continuation_bytes == 0) {
    length = 1;
    return SequenceStatus::kInvalid;
  }
  size_t i = pos + 1;
  for (int k = 0; k < info.continuation_bytes; ++k, ++i) {
    if (i >= bytes.size()) {
      length = i - pos;
      return SequenceStatus::kTruncated;
    }
    const auto c = static_cast<unsigned char>(bytes[i]);
    const unsigned char low = k == 0 ? info.second_low : 0x80;
    const unsigned char high = k == 0 ? info.second_high : 0xBF;
    if (c < low || c > high) {
      length = i - pos;
      return SequenceStatus::kInvalid;
    }
  }
  length = i - pos;
  return SequenceStatus::kValid;
}

}  // namespace

std::optional<size_t> find_invalid_utf8(std::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (static_cast<unsigned char>(bytes[pos]) < 0x80) {
      ++pos;
      continue;
    }
    size_t length = 0;
    if (check_sequence(bytes, pos, length) != SequenceStatus::kValid) return pos;
    pos += length;
  }
  return std::nullopt;
}

std::string repair_utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t length = 0;
    if (check_sequence(bytes, pos, length) == SequenceStatus::kValid) {
      out.append(bytes.substr(pos, length));
    } else {
      out.append("\xEF\xBF\xBD");
    }
    pos += length;
  }
  return out;
}

size_t incomplete_utf8_tail(std::string_view bytes) {
  // A sequence is at most 4 bytes, so only the last 3 bytes can start an incomplete one.
  const size_t first = bytes.size() > 3 ? bytes.size() - 3 : 0;
  for (size_t pos = first; pos < bytes.size(); ++pos) {
    const auto c = static_cast<unsigned char>(bytes[pos]);
    if (c < 0x80 || c >= 0xC0) {  // a lead byte or ASCII
      size_t length = 0;
      if (check_sequence(bytes, pos, length) == SequenceStatus::kTruncated) return bytes.size() - pos;
    }
  }
  return 0;
}

void append_utf8(std::string& out, char32_t cp) {
  char bytes[4];
  out.append(bytes, encode_utf8(cp, bytes));
}

char32_t next_code_point(std::string_view text, size_t& pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  const size_t length = utf8_length_from_lead(lead);
  char32_t cp = length == 1 ? lead : length == 2 ? (lead & 0x1F) : length == 3 ? (lead & 0x0F) : (lead & 0x07);
  for (size_t k = 1; k < length && pos + k < text.size(); ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(text[pos + k]) & 0x3F);
  }
  pos += length;
  return cp;
}

bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

namespace {
struct ByteLevelTables {
  std::array<std::string, 256> byte_to_char;
  std::array<int, 512> char_to_byte;  // every mapped character is below U+0200
  ByteLevelTables() {
    char_to_byte.fill(-1);
    int next_unprintable = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next_unprintable++);
      append_utf8(byte_to_char[b], cp);
      char_to_byte[cp] = b;
    }
  }
};
const ByteLevelTables& byte_level_tables() {
  static const ByteLevelTables tables;
  return tables;
}
}  // namespace

const std::array<std::string, 256>& byte_to_level_char() { return byte_level_tables().byte_to_char; }

int level_char_to_byte(char32_t cp) {
  return cp < 512 ? byte_level_tables().char_to_byte[cp] : -1;
}

}  // namespace glint::unicode
