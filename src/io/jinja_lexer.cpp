#include "io/jinja_lexer.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "core/error.h"
#include "io/jinja_unicode.h"

namespace glint::jinja {
namespace {

// Python's \s in a unicode regex; decodes one UTF-8 code point at `pos` and reports its byte length.
size_t whitespace_length_at(std::string_view s, size_t pos) {
  unsigned char b = static_cast<unsigned char>(s[pos]);
  if (b < 0x80) return py_isspace(b) ? 1 : 0;
  size_t n = (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 1;
  if (pos + n > s.size()) return 0;
  std::u32string cp = utf8_decode(s.substr(pos, n));
  return cp.size() == 1 && py_isspace(cp[0]) ? n : 0;
}

size_t skip_whitespace(std::string_view s, size_t pos) {
  while (pos < s.size()) {
    size_t n = whitespace_length_at(s, pos);
    if (!n) break;
    pos += n;
  }
  return pos;
}

std::string rstrip_whitespace(std::string_view text) {
  return py_strip(text, nullptr, false, true);
}

bool all_whitespace(std::string_view s) {
  return !s.empty() && skip_whitespace(s, 0) == s.size();
}

bool is_name_start(unsigned char c) { return c == '_' || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c >= 0x80; }
bool is_name_char(unsigned char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

class Lexer {
 public:
  Lexer(std::string source, const LexerOptions& options) : src_(std::move(source)), options_(options) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    size_t pos = 0;
    bool line_starting = true;
    const size_t n = src_.size();
    while (pos < n) {
      size_t tag = find_tag(pos);
      if (tag == std::string::npos) {
        emit_text(src_.substr(pos), pos);
        break;
      }
      char kind = src_[tag + 1];
      char sign = tag + 2 < n && (src_[tag + 2] == '-' || src_[tag + 2] == '+') ? src_[tag + 2] : 0;
      size_t after_begin = tag + 2 + (sign ? 1 : 0);
      std::string text = src_.substr(pos, tag - pos);
      size_t raw_body = kind == '%' ? match_raw_begin(after_begin) : std::string::npos;
      text = apply_left_strip(std::move(text), sign, kind != '{', line_starting);
      emit_text(std::move(text), pos);
      if (raw_body != std::string::npos) {
        pos = lex_raw(tag, raw_body, line_starting);
      } else if (kind == '#') {
        pos = lex_comment(tag, after_begin);
      } else {
        pos = lex_tag(tag, after_begin, kind == '%');
      }
      line_starting = pos > 0 && src_[pos - 1] == '\n';
    }
    tokens_.push_back(make(TokenType::EndOfInput, "", n));
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t i = from; i + 1 < src_.size(); ++i) {
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  std::string apply_left_strip(std::string text, char sign, bool is_block_or_comment, bool line_starting) {
    if (sign == '-') return rstrip_whitespace(text);
    if (sign != '+' && options_.lstrip_blocks && is_block_or_comment) {
      size_t last_newline = text.rfind('\n');
      size_t line_begin = last_newline == std::string::npos ? 0 : last_newline + 1;
      if ((line_begin > 0 || line_starting) && all_whitespace(std::string_view(text).substr(line_begin)))
        text.resize(line_begin);
    }
    return text;
  }

  void emit_text(std::string text, size_t offset) {
    if (!text.empty()) tokens_.push_back(make(TokenType::Text, std::move(text), offset));
  }

  Token make(TokenType type, std::string text, size_t offset) const {
    Token t{type, std::move(text)};
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    size_t line_index = static_cast<size_t>(it - line_starts_.begin()) - 1;
    t.line = static_cast<int>(line_index) + 1;
    t.column = static_cast<int>(offset - line_starts_[line_index]) + 1;
    return t;
  }

  [[noreturn]] void error_at(size_t offset, const std::string& message) const {
    Token t = make(TokenType::Text, "", std::min(offset, src_.size()));
    fail("template syntax error at line ", t.line, ", column ", t.column, ": ", message);
  }

  // Consumes the end of a block tag (`%}`, `-%}`, `+%}`) at pos; returns the position after it and any
  // whitespace it swallows, or npos when no block end is there.
  size_t match_block_end(size_t pos) const {
    if (src_.compare(pos, 3, "-%}") == 0) return skip_whitespace(src_, pos + 3);
    if (src_.compare(pos, 3, "+%}") == 0) return pos + 3;
    if (src_.compare(pos, 2, "%}") == 0) {
      pos += 2;
      if (options_.trim_blocks && pos < src_.size() && src_[pos] == '\n') ++pos;
      return pos;
    }
    return std::string::npos;
  }

  // `{% raw %}`: returns where the raw body starts, or npos when the tag is something else.
  size_t match_raw_begin(size_t pos) const {
    pos = skip_whitespace(src_, pos);
    if (src_.compare(pos, 3, "raw") != 0) return std::string::npos;
    pos = skip_whitespace(src_, pos + 3);
    if (src_.compare(pos, 3, "-%}") == 0) return skip_whitespace(src_, pos + 3);
    if (src_.compare(pos, 2, "%}") == 0) return pos + 2;
    return std::string::npos;
  }

  size_t lex_raw(size_t tag, size_t body, bool& line_starting) {
    // The body ends at the first `{%[-+]? endraw %}`.
    for (size_t i = body; i + 1 < src_.size(); ++i) {
      if (src_[i] != '{' || src_[i + 1] != '%') continue;
      char sign = i + 2 < src_.size() && (src_[i + 2] == '-' || src_[i + 2] == '+') ? src_[i + 2] : 0;
      size_t p = skip_whitespace(src_, i + 2 + (sign ? 1 : 0));
      if (src_.compare(p, 6, "endraw") != 0) continue;
      p = skip_whitespace(src_, p + 6);
      size_t end = match_block_end(p);
      if (end == std::string::npos) continue;
      bool body_line_starting = body > 0 && src_[body - 1] == '\n';
      emit_text(apply_left_strip(src_.substr(body, i - body), sign, true, body_line_starting), body);
      line_starting = false;
      return end;
    }
    error_at(tag, "missing end of raw directive");
  }

  size_t lex_comment(size_t tag, size_t body) {
    size_t close = src_.find("#}", body);
    if (close == std::string::npos) error_at(tag, "missing end of comment tag");
    if (close > body && src_[close - 1] == '-') return skip_whitespace(src_, close + 2);
    if (close > body && src_[close - 1] == '+') return close + 2;
    size_t pos = close + 2;
    if (options_.trim_blocks && pos < src_.size() && src_[pos] == '\n') ++pos;
    return pos;
  }

  size_t lex_tag(size_t tag, size_t pos, bool is_block) {
    tokens_.push_back(make(is_block ? TokenType::BlockBegin : TokenType::VariableBegin, "", tag));
    std::vector<char> balance;
    const size_t n = src_.size();
    while (true) {
      pos = skip_whitespace(src_, pos);
      if (pos >= n) error_at(tag, is_block ? "unexpected end of template, expected '%}'" : "unexpected end of template, expected '}}'");
      if (balance.empty()) {
        if (is_block) {
          size_t end = match_block_end(pos);
          if (end != std::string::npos) {
            tokens_.push_back(make(TokenType::BlockEnd, "", pos));
            return end;
          }
        } else if (src_.compare(pos, 3, "-}}") == 0) {
          tokens_.push_back(make(TokenType::VariableEnd, "", pos));
          return skip_whitespace(src_, pos + 3);
        } else if (src_.compare(pos, 2, "}}") == 0) {
          tokens_.push_back(make(TokenType::VariableEnd, "", pos));
          return pos + 2;
        }
      }
      unsigned char c = static_cast<unsigned char>(src_[pos]);
      if (c >= '0' && c <= '9') {
        pos = lex_number(pos);
      } else if (is_name_start(c)) {
        size_t start = pos;
        while (pos < n && is_name_char(static_cast<unsigned char>(src_[pos]))) ++pos;
        tokens_.push_back(make(TokenType::Name, src_.substr(start, pos - start), start));
      } else if (c == '\'' || c == '"') {
        pos = lex_string(pos);
      } else {
        pos = lex_operator(pos, balance);
      }
    }
  }

  size_t lex_digits(size_t pos) const {
    // Digits with single underscores between them, as in 1_000.
    while (pos < src_.size()) {
      if (std::isdigit(static_cast<unsigned char>(src_[pos]))) {
        ++pos;
      } else if (src_[pos] == '_' && pos + 1 < src_.size() && std::isdigit(static_cast<unsigned char>(src_[pos + 1]))) {
        ++pos;
      } else {
        break;
      }
    }
    return pos;
  }

  size_t lex_number(size_t start) {
    size_t pos = start;
    if (src_[pos] == '0' && pos + 1 < src_.size() && std::strchr("xXoObB", src_[pos + 1])) {
      char base_char = static_cast<char>(std::tolower(src_[pos + 1]));
      int base = base_char == 'x' ? 16 : base_char == 'o' ? 8 : 2;
      pos += 2;
      size_t digits_begin = pos;
      while (pos < src_.size() && (std::isxdigit(static_cast<unsigned char>(src_[pos])) || src_[pos] == '_')) ++pos;
      std::string digits;
      for (size_t i = digits_begin; i < pos; ++i)
        if (src_[i] != '_') digits += src_[i];
      Token t = make(TokenType::Integer, src_.substr(start, pos - start), start);
      try {
        t.integer = std::stoll(digits, nullptr, base);
      } catch (const std::exception&) {
        error_at(start, "invalid integer literal");
      }
      tokens_.push_back(t);
      return pos;
    }
    pos = lex_digits(pos);
    bool is_float = false;
    bool after_dot = start > 0 && src_[start - 1] == '.';
    if (!after_dot && pos + 1 < src_.size() && src_[pos] == '.' && std::isdigit(static_cast<unsigned char>(src_[pos + 1]))) {
      pos = lex_digits(pos + 1);
      is_float = true;
    }
    if (!after_dot && pos < src_.size() && (src_[pos] == 'e' || src_[pos] == 'E')) {
      size_t p = pos + 1;
      if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
      if (p < src_.size() && std::isdigit(static_cast<unsigned char>(src_[p]))) {
        pos = lex_digits(p);
        is_float = true;
      }
    }
    std::string spelling;
    for (size_t i = start; i < pos; ++i)
      if (src_[i] != '_') spelling += src_[i];
    Token t = make(is_float ? TokenType::Float : TokenType::Integer, spelling, start);
    try {
      if (is_float)
        t.number = std::stod(spelling);
      else
        t.integer = std::stoll(spelling);
    } catch (const std::exception&) {
      error_at(start, "number literal out of range");
    }
    tokens_.push_back(t);
    return pos;
  }

  size_t lex_string(size_t start) {
    char quote = src_[start];
    size_t pos = start + 1;
    while (pos < src_.size() && src_[pos] != quote) pos += src_[pos] == '\\' ? 2 : 1;
    if (pos >= src_.size()) error_at(start, "unterminated string literal");
    tokens_.push_back(make(TokenType::String, unescape(start, src_.substr(start + 1, pos - start - 1)), start));
    return pos + 1;
  }

  // Python's "unicode-escape" decoding, which jinja2 applies to string literals.
  std::string unescape(size_t offset, const std::string& body) const {
    std::string out;
    for (size_t i = 0; i < body.size(); ++i) {
      if (body[i] != '\\' || i + 1 >= body.size()) {
        out += body[i];
        continue;
      }
      char e = body[++i];
      auto hex_escape = [&](size_t digits) {
        std::string hex = body.substr(i + 1, digits);
        if (hex.size() != digits || !std::all_of(hex.begin(), hex.end(), [](char h) { return std::isxdigit(static_cast<unsigned char>(h)); }))
          error_at(offset, "truncated \\" + std::string(1, e) + " escape in string literal");
        utf8_append(out, static_cast<char32_t>(std::stoul(hex, nullptr, 16)));
        i += digits;
      };
      switch (e) {
        case '\n': break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x': hex_escape(2); break;
        case 'u': hex_escape(4); break;
        case 'U': hex_escape(8); break;
        case 'N': error_at(offset, "\\N{...} escapes are not supported");
        default:
          if (e >= '0' && e <= '7') {
            unsigned value = static_cast<unsigned>(e - '0');
            for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7'; ++k)
              value = value * 8 + static_cast<unsigned>(body[++i] - '0');
            utf8_append(out, static_cast<char32_t>(value));
          } else {
            out += '\\';
            out += e;
          }
      }
    }
    return out;
  }

  size_t lex_operator(size_t pos, std::vector<char>& balance) {
    static const char* const two_char[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : two_char) {
      if (src_.compare(pos, 2, op) == 0) {
        tokens_.push_back(make(TokenType::Operator, op, pos));
        return pos + 2;
      }
    }
    char c = src_[pos];
    if (!std::strchr("+-/*%~[](){}<>=.:|,;", c)) error_at(pos, std::string("unexpected character '") + c + "'");
    if (c == '(' || c == '[' || c == '{') {
      balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (balance.empty()) error_at(pos, std::string("unexpected '") + c + "'");
      if (balance.back() != c) error_at(pos, std::string("unexpected '") + c + "', expected '" + balance.back() + "'");
      balance.pop_back();
    }
    tokens_.push_back(make(TokenType::Operator, std::string(1, c), pos));
    return pos + 1;
  }

  std::string src_;
  LexerOptions options_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
};

}  // namespace

std::string normalize_newlines(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out += '\n';
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::vector<Token> tokenize(std::string_view source, const LexerOptions& options) {
  std::string text = normalize_newlines(source);
  if (!options.keep_trailing_newline && !text.empty() && text.back() == '\n') text.pop_back();
  return Lexer(std::move(text), options).run();
}

}  // namespace glint::jinja
