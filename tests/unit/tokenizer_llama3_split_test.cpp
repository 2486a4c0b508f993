// The hand-written matcher for the Llama 3 split regex must find exactly the matches PCRE2 finds: side by side
// on the tokenizer corpus, on random strings of the characters the regex treats specially, and on every code
// point in the contexts where its class decides the match. Also: Llama 3's streamed pre-tokenization hands
// out exactly the pieces of the piece-list path.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "io/tokenizer_components.h"
#include "io/tokenizer_llama3_split.h"
#include "io/tokenizer_pattern.h"
#include "io/unicode.h"

namespace glint::tokenizer_detail {
namespace {

const std::string kPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct Engines {
  Regex hand{kPattern};
  Regex pcre2{kPattern, RegexEngine::kPcre2};
};
const Engines& engines() {
  static const Engines instance;
  return instance;
}

// Compares the two engines' matches; on a mismatch reports the first differing match with some context.
void expect_same_matches(const std::string& text, const std::string& label) {
  const auto hand = engines().hand.find_all(text);
  const auto expected = engines().pcre2.find_all(text);
  if (hand == expected) return;
  size_t i = 0;
  while (i < hand.size() && i < expected.size() && hand[i] == expected[i]) ++i;
  const size_t at = i < expected.size() ? expected[i].first : i < hand.size() ? hand[i].first : 0;
  const size_t from = at > 20 ? at - 20 : 0;
  ADD_FAILURE() << label << ": match " << i << " differs (hand " << hand.size() << " matches, PCRE2 "
                << expected.size() << "), near byte " << at << ": " << nlohmann::json(unicode::repair_utf8_lossy(
                                                                               text.substr(from, 60)))
                                                                               .dump();
}

TEST(TokenizerLlama3Split, RecognisesOnlyTheExactPattern) {
  EXPECT_TRUE(is_llama3_split_pattern(kPattern));
  EXPECT_TRUE(Regex(kPattern).uses_hand_matcher());
  EXPECT_FALSE(Regex(kPattern, RegexEngine::kPcre2).uses_hand_matcher());
  EXPECT_FALSE(Regex(kPattern + "|x").uses_hand_matcher());
  EXPECT_FALSE(Regex(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)").uses_hand_matcher());
}

TEST(TokenizerLlama3Split, SameMatchesAsPcre2OnTheCorpus) {
  std::ifstream in(std::string(GLINT_SOURCE_DIR) + "/tests/reference/tokenizer_corpus.jsonl");
  ASSERT_TRUE(in) << "tokenizer_corpus.jsonl missing";
  std::string line, all;
  int index = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::string text = nlohmann::json::parse(line).get<std::string>();
    expect_same_matches(text, "corpus text " + std::to_string(index++));
    all += text;
  }
  expect_same_matches(all, "whole corpus");
}

// Characters the regex treats differently: contraction letters in both cases (and long s, which matches 's'
// caselessly), letters of several scripts, combining marks, digits of several scripts, white space of every
// kind, CR/LF, punctuation, emoji (with a variation selector and a joiner), symbols.
const std::vector<std::string>& special_atoms() {
  static const std::vector<std::string> atoms = {
      "'", "'", "'", "s", "S", "t", "T", "r", "R", "e", "E", "v", "V", "m", "M", "l", "L", "d", "D",
      "\xC5\xBF", "a", "z", "Q", "\xC3\xA9", "\xD0\xB4", "\xD8\xB9", "\xE0\xA4\x95", "\xE0\xA4\xBF",
      "\xE4\xB8\xAD", "\xE3\x81\x82", "\xCC\x81", "\xE0\xA5\x8D", "0", "7", "9", "\xD9\xA3", "\xE0\xA5\xAC",
      "\xE2\x85\xA7", "\xC2\xB2", " ", " ", " ", "\t", "\n", "\r", "\r\n", "\x0B", "\x0C", "\xC2\x85",
      "\xC2\xA0", "\xE3\x80\x80", "\xE2\x80\xA8", "\xE2\x80\x83", "\xE1\xA0\x8E", ".", ",", "!", "-", "_",
      "(", "\"", "\xE2\x80\x99", "\xF0\x9F\x98\x80", "\xEF\xB8\x8F", "\xE2\x80\x8D", "\xF0\x9F\x91\x8D",
      "\xE2\x82\xAC", "$", "\x01", std::string(1, '\0'), "\xF0\x9D\x90\x80", "\xF0\x9D\x9F\x8E"};
  return atoms;
}

TEST(TokenizerLlama3Split, SameMatchesAsPcre2OnRandomStrings) {
  const std::vector<std::string>& atoms = special_atoms();
  std::mt19937 rng(20261203);
  std::uniform_int_distribution<size_t> pick(0, atoms.size() - 1);
  std::uniform_int_distribution<int> length(0, 40);
  std::string all;
  for (int round = 0; round < 4000; ++round) {
    std::string text;
    for (int n = length(rng); n > 0; --n) text += atoms[pick(rng)];
    expect_same_matches(text, "random string " + std::to_string(round));
    all += text;
  }
  expect_same_matches(all, "all random strings");
}

TEST(TokenizerLlama3Split, SameMatchesAsPcre2ForEveryCodePoint) {
  // Each code point after an apostrophe (contractions), after "'r" / "'l" (two-letter contractions), after a
  // space and before a digit, and inside a white-space run; all in one text per context.
  const std::vector<std::pair<std::string, std::string>> contexts = {
      {"'", "\n"}, {"'r", " "}, {"'l", "x"}, {" ", "1"}, {"  ", "  a"}};
  for (const auto& [before, after] : contexts) {
    std::string text;
    for (char32_t c = 0; c <= 0x10FFFF; ++c) {
      if (c >= 0xD800 && c <= 0xDFFF) continue;
      text += before;
      unicode::append_utf8(text, c);
      text += after;
    }
    expect_same_matches(text, "every code point between '" + before + "' and '" + after + "'");
  }
}

std::vector<std::string> streamed_pieces(const PreTokenizer& pre_tokenizer, const std::string& text) {
  struct Collect final : PieceSink {
    std::vector<std::string> pieces;
    void take(std::string_view piece) override { pieces.emplace_back(piece); }
  } collect;
  pre_tokenizer.stream(text, collect);
  return collect.pieces;
}

TEST(TokenizerLlama3Split, StreamedPiecesEqualPieceList) {
  const nlohmann::json config = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"}, {"pattern", {{"Regex", kPattern}}}, {"behavior", "Isolated"}, {"invert", false}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
  nlohmann::json with_prefix = config;
  with_prefix["pretokenizers"][1]["add_prefix_space"] = true;
  std::mt19937 rng(11);
  const std::vector<std::string> atoms = {"'s", "'LL", "Hello", " world", "  ", "\r\n", "\n\n", "123456", "\t",
                                          "\xE4\xB8\xAD", " \xF0\x9F\x98\x80", "!!", std::string(200, 'x'), " "};
  for (const nlohmann::json& json : {config, with_prefix}) {
    const auto pre_tokenizer = make_pre_tokenizer(json);
    ASSERT_TRUE(pre_tokenizer->can_stream());
    for (int round = 0; round < 300; ++round) {
      std::string text;
      for (int n = static_cast<int>(rng() % 30); n > 0; --n) text += atoms[rng() % atoms.size()];
      Pieces pieces{{text, -1, true}};
      pre_tokenizer->pre_tokenize(pieces);
      std::vector<std::string> expected;
      for (const Piece& piece : pieces) expected.push_back(piece.text);
      EXPECT_EQ(streamed_pieces(*pre_tokenizer, text), expected) << nlohmann::json(text).dump();
    }
  }
  EXPECT_FALSE(make_pre_tokenizer({{"type", "Metaspace"}})->can_stream());
}

TEST(TokenizerLlama3Split, IndependentStartsSplitTheSearch) {
  std::mt19937 rng(99);
  const std::vector<std::string>& atoms = special_atoms();
  int cuts = 0;
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    for (int n = static_cast<int>(rng() % 40); n > 0; --n) {
      text += atoms[rng() % atoms.size()];
      if (rng() % 4 == 0) text += "\n";
    }
    const auto whole = engines().hand.find_all(text);
    ASSERT_EQ(whole, engines().pcre2.find_all(text));
    for (size_t q = Llama3Splitter::independent_start(text, 0); q != std::string_view::npos;
         q = Llama3Splitter::independent_start(text, q + 1)) {
      ASSERT_TRUE(q > 0 && text[q - 1] == '\n');
      auto joined = engines().pcre2.find_all(std::string_view(text).substr(0, q));
      for (auto [begin, end] : engines().pcre2.find_all(std::string_view(text).substr(q))) {
        joined.emplace_back(begin + q, end + q);
      }
      ASSERT_EQ(joined, whole) << "cut at " << q << " of " << nlohmann::json(text).dump();
      ++cuts;
    }
  }
  EXPECT_GT(cuts, 1000);
}

TEST(TokenizerLlama3Split, ParallelSearchMatchesSerial) {
  std::string text;
  std::mt19937 rng(7);
  const std::vector<std::string> words = {"Hello", " world", "'s", "\n\n", "  ", "123456", "\xE4\xB8\xAD\xE6\x96\x87",
                                          " \xD0\xBF\xD1\x80\xD0\xB8", "!!", "\r\n", "\t", " \xF0\x9F\x98\x80"};
  while (text.size() < (size_t{1} << 20)) text += words[rng() % words.size()];
  const int saved = thread_count();
  set_thread_count(4);
  const auto parallel = engines().hand.find_all(text);
  set_thread_count(1);
  const auto serial = engines().hand.find_all(text);
  set_thread_count(saved);
  EXPECT_EQ(parallel, serial);
  EXPECT_EQ(serial, engines().pcre2.find_all(text));
}

}  // namespace
}  // namespace glint::tokenizer_detail
