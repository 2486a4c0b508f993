#include "io/jinja_unicode.h"

#include <locale.h>
#include <wctype.h>

namespace glint::jinja {
namespace {

// glibc's C.UTF-8 locale carries full Unicode case and class tables; without it we fall back to ASCII.
locale_t unicode_locale() {
  static locale_t locale = [] {
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    if (!l) l = newlocale(LC_CTYPE_MASK, "C.utf8", static_cast<locale_t>(nullptr));
    return l;
  }();
  return locale;
}

}  // namespace

void utf8_append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

std::u32string utf8_decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char b = static_cast<unsigned char>(s[i]);
    int extra = b < 0x80 ? 0 : (b >> 5) == 0x6 ? 1 : (b >> 4) == 0xE ? 2 : (b >> 3) == 0x1E ? 3 : -1;
    if (extra < 0 || i + extra >= s.size() + (extra == 0 ? 1 : 0)) {
      // Invalid byte: keep it as a code point of its own so nothing is silently lost.
      out += static_cast<char32_t>(b);
      ++i;
      continue;
    }
    char32_t c = extra == 0 ? b : extra == 1 ? (b & 0x1F) : extra == 2 ? (b & 0x0F) : (b & 0x07);
    bool ok = true;
    for (int k = 1; k <= extra; ++k) {
      unsigned char cont = static_cast<unsigned char>(s[i + k]);
      if ((cont & 0xC0) != 0x80) { ok = false; break; }
      c = (c << 6) | (cont & 0x3F);
    }
    if (!ok) {
      out += static_cast<char32_t>(b);
      ++i;
      continue;
    }
    out += c;
    i += extra + 1;
  }
  return out;
}

std::string utf8_encode(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) utf8_append(out, c);
  return out;
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (unsigned char b : s) n += (b & 0xC0) != 0x80;
  return n;
}

bool is_ascii(std::string_view s) {
  for (unsigned char b : s)
    if (b >= 0x80) return false;
  return true;
}

bool py_isspace(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  switch (c) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool py_isprintable(char32_t c) {
  if (c < 0x20 || c == 0x7F) return false;
  if (c < 0x7F) return true;
  if (c >= 0x80 && c <= 0xA0) return false;  // C1 controls and no-break space
  if (c == 0xAD) return false;                // soft hyphen (format)
  if (py_isspace(c)) return false;            // separators other than ' '
  if ((c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) || (c >= 0x2060 && c <= 0x206F)) return false;
  if (c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB) || (c >= 0x600 && c <= 0x605) || c == 0x61C || c == 0x6DD ||
      c == 0x70F || c == 0x180E)
    return false;
  if (c >= 0xD800 && c <= 0xDFFF) return false;  // surrogates
  if ((c >= 0xE000 && c <= 0xF8FF) || c >= 0xF0000) return false;  // private use
  if (c == 0xFFFE || c == 0xFFFF || c > 0x10FFFF) return false;
  if (c >= 0xE0000 && c <= 0xE007F) return false;  // tag characters
  return true;
}

bool py_isalpha(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  locale_t l = unicode_locale();
  return l && iswalpha_l(static_cast<wint_t>(c), l) && !iswdigit_l(static_cast<wint_t>(c), l);
}
bool py_isdigit(char32_t c) { return c >= '0' && c <= '9'; }
bool py_isalnum(char32_t c) { return py_isalpha(c) || py_isdigit(c); }
bool py_isupper(char32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z';
  locale_t l = unicode_locale();
  return l ? iswupper_l(static_cast<wint_t>(c), l) != 0 : false;
}
bool py_islower(char32_t c) {
  if (c < 0x80) return c >= 'a' && c <= 'z';
  locale_t l = unicode_locale();
  return l ? iswlower_l(static_cast<wint_t>(c), l) != 0 : false;
}

char32_t py_toupper(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  locale_t l = unicode_locale();
  return l ? static_cast<char32_t>(towupper_l(static_cast<wint_t>(c), l)) : c;
}
char32_t py_tolower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  locale_t l = unicode_locale();
  return l ? static_cast<char32_t>(towlower_l(static_cast<wint_t>(c), l)) : c;
}

namespace {
// A "cased" character in Python's sense (categories Lu, Ll, Lt).
bool is_cased(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (py_toupper(c) != c || py_tolower(c) != c || special_case(c)) return true;
  locale_t l = unicode_locale();
  return l && (iswlower_l(static_cast<wint_t>(c), l) || iswupper_l(static_cast<wint_t>(c), l));
}

enum class CaseKind { Upper, Lower, Title };

void append_case(std::string& out, char32_t c, CaseKind kind) {
  if (const SpecialCaseMapping* special = c >= 0x80 ? special_case(c) : nullptr) {
    out += kind == CaseKind::Upper ? special->upper : kind == CaseKind::Lower ? special->lower : special->title;
    return;
  }
  utf8_append(out, kind == CaseKind::Lower ? py_tolower(c) : py_toupper(c));
}

// Python lowers a capital sigma at the end of a word to the final form.
bool is_final_sigma(const std::u32string& cps, size_t i) {
  bool cased_before = false;
  for (size_t k = i; k-- > 0;) {
    if (is_cased(cps[k])) {
      cased_before = true;
      break;
    }
    if (cps[k] != '\'' && cps[k] != 0x2019 && cps[k] != '.') break;
  }
  if (!cased_before) return false;
  for (size_t k = i + 1; k < cps.size(); ++k) {
    if (is_cased(cps[k])) return false;
    if (cps[k] != '\'' && cps[k] != 0x2019 && cps[k] != '.') break;
  }
  return true;
}

std::string convert_case(std::string_view text, CaseKind kind) {
  std::string out;
  out.reserve(text.size());
  if (is_ascii(text)) {
    for (char ch : text) out += static_cast<char>(kind == CaseKind::Lower ? py_tolower(static_cast<unsigned char>(ch))
                                                                         : py_toupper(static_cast<unsigned char>(ch)));
    return out;
  }
  std::u32string cps = utf8_decode(text);
  for (size_t i = 0; i < cps.size(); ++i) {
    if (kind == CaseKind::Lower && cps[i] == 0x3A3 && is_final_sigma(cps, i)) {
      utf8_append(out, 0x3C2);
      continue;
    }
    append_case(out, cps[i], kind);
  }
  return out;
}
}  // namespace

std::string py_upper(std::string_view text) { return convert_case(text, CaseKind::Upper); }
std::string py_lower(std::string_view text) { return convert_case(text, CaseKind::Lower); }

std::string py_capitalize(std::string_view text) {
  std::u32string cps = utf8_decode(text);
  if (cps.empty()) return "";
  std::string out;
  append_case(out, cps[0], CaseKind::Title);
  for (size_t i = 1; i < cps.size(); ++i) {
    if (cps[i] == 0x3A3 && is_final_sigma(cps, i)) utf8_append(out, 0x3C2);
    else append_case(out, cps[i], CaseKind::Lower);
  }
  return out;
}

std::string py_swapcase(std::string_view text) {
  std::u32string cps = utf8_decode(text);
  std::string out;
  for (size_t i = 0; i < cps.size(); ++i) {
    char32_t c = cps[i];
    if (py_isupper(c)) {
      if (c == 0x3A3 && is_final_sigma(cps, i)) utf8_append(out, 0x3C2);
      else append_case(out, c, CaseKind::Lower);
    } else if (py_islower(c)) {
      append_case(out, c, CaseKind::Upper);
    } else {
      utf8_append(out, c);
    }
  }
  return out;
}

std::string py_title(std::string_view text) {
  std::u32string cps = utf8_decode(text);
  std::string out;
  bool previous_cased = false;
  for (size_t i = 0; i < cps.size(); ++i) {
    char32_t c = cps[i];
    if (previous_cased) {
      if (c == 0x3A3 && is_final_sigma(cps, i)) utf8_append(out, 0x3C2);
      else append_case(out, c, CaseKind::Lower);
    } else {
      append_case(out, c, CaseKind::Title);
    }
    previous_cased = is_cased(c);
  }
  return out;
}

namespace {
// Decodes the code point starting at byte `pos`; sets `length` to its byte count.
char32_t code_point_at(std::string_view s, size_t pos, size_t& length) {
  unsigned char b = static_cast<unsigned char>(s[pos]);
  length = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 1;
  if (length == 1 || pos + length > s.size()) {
    length = 1;
    return b;
  }
  std::u32string one = utf8_decode(s.substr(pos, length));
  return one.size() == 1 ? one[0] : b;
}
}  // namespace

std::string py_strip(std::string_view text, const std::string* chars, bool left, bool right) {
  if (!chars) {
    // Whitespace stripping looks only at the ends, so it works on bytes without decoding the middle.
    size_t begin = 0, end = text.size(), length = 0;
    if (left) {
      while (begin < end && py_isspace(code_point_at(text, begin, length))) begin += length;
    }
    if (right) {
      while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
        if (!py_isspace(code_point_at(text, start, length)) || start + length != end) break;
        end = start;
      }
    }
    return std::string(text.substr(begin, end - begin));
  }
  std::u32string cps = utf8_decode(text);
  std::u32string set = chars ? utf8_decode(*chars) : std::u32string();
  auto strip_it = [&](char32_t c) { return chars ? set.find(c) != std::u32string::npos : py_isspace(c); };
  size_t begin = 0, end = cps.size();
  if (left)
    while (begin < end && strip_it(cps[begin])) ++begin;
  if (right)
    while (end > begin && strip_it(cps[end - 1])) --end;
  return utf8_encode(std::u32string_view(cps).substr(begin, end - begin));
}

}  // namespace glint::jinja
