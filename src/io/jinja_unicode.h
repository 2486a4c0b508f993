// Python-compatible text helpers for the Jinja interpreter: templates index, slice, strip and case-map
// strings by code point the way CPython does, so these work on UTF-8 decoded to code points.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace glint::jinja {

std::u32string utf8_decode(std::string_view text);
std::string utf8_encode(std::u32string_view text);
void utf8_append(std::string& out, char32_t code_point);
size_t utf8_length(std::string_view text);  // number of code points
bool is_ascii(std::string_view text);

// str.isspace() for one code point.
bool py_isspace(char32_t c);
// str.isprintable() for one code point (approximated for unassigned code points).
bool py_isprintable(char32_t c);
bool py_isalpha(char32_t c);
bool py_isdigit(char32_t c);
bool py_isalnum(char32_t c);
bool py_isupper(char32_t c);
bool py_islower(char32_t c);
char32_t py_toupper(char32_t c);
char32_t py_tolower(char32_t c);

// Code points whose Python case mappings are not one code point to one (see jinja_unicode_tables.cpp).
struct SpecialCaseMapping {
  char32_t code_point;
  const char* upper;
  const char* lower;
  const char* title;
};
const SpecialCaseMapping* special_case(char32_t c);

std::string py_upper(std::string_view text);
std::string py_lower(std::string_view text);
std::string py_capitalize(std::string_view text);  // str.capitalize()
std::string py_title(std::string_view text);       // str.title()
std::string py_swapcase(std::string_view text);    // str.swapcase()
// str.strip()/lstrip()/rstrip(); chars == nullptr strips whitespace.
std::string py_strip(std::string_view text, const std::string* chars, bool left, bool right);

}  // namespace glint::jinja
