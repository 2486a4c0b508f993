// Tokenizer behaviour on small hand-made tokenizer.json files whose answers follow from the reference rules.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/thread_pool.h"
#include "io/tokenizer.h"
#include "io/tokenizer_pattern.h"
#include "io/unicode.h"

namespace glint {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

// A BPE tokenizer over a tiny vocab; tests patch in the components they exercise.
json base_config() {
  return json::parse(R"({
    "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
    "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
    "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,
              "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
              "vocab": {"<unk>": 0, "a": 1, "b": 2, "c": 3, "ab": 4, "abc": 5, "bc": 6, "\u2581": 7, "\u2581a": 8,
                        "<0x78>": 9, "<0xC3>": 10, "<0xA9>": 11, "<s>": 12, " ": 13, "d": 14},
              "merges": ["a b", "ab c", "\u2581 a"]}
  })");
}

Tokenizer load(const json& config) { return Tokenizer::from_json_string(config.dump(), "test"); }

TEST(TokenizerBpe, AppliesMergesByRankThenPosition) {
  const Tokenizer tokenizer = load(base_config());
  EXPECT_EQ(tokenizer.encode("abcab"), (Ids{5, 4}));
  EXPECT_EQ(tokenizer.encode("ab"), (Ids{4}));
  EXPECT_EQ(tokenizer.encode(""), (Ids{}));
}

TEST(TokenizerBpe, MergesAsPairsEqualMergesAsStrings) {
  json config = base_config();
  config["model"]["merges"] = json::parse(R"([["a", "b"], ["ab", "c"], ["\u2581", "a"]])");
  EXPECT_EQ(load(config).encode("abcab"), (Ids{5, 4}));
}

TEST(TokenizerBpe, LowerRankWinsOverPosition) {
  json config = base_config();
  config["model"]["merges"] = json::parse(R"(["b c", "a b"])");
  // "b c" has rank 0, so "abc" becomes a + bc even though "a b" is further left.
  EXPECT_EQ(load(config).encode("abc"), (Ids{1, 6}));
}

TEST(TokenizerBpe, UnknownCharactersFuseOrNot) {
  json config = base_config();
  EXPECT_EQ(load(config).encode("azzb"), (Ids{1, 0, 0, 2}));
  config["model"]["fuse_unk"] = true;
  EXPECT_EQ(load(config).encode("azzb"), (Ids{1, 0, 2}));
  config["model"]["unk_token"] = nullptr;
  // Without an unk token unknown characters are dropped, as the reference does; a and b then merge.
  EXPECT_EQ(load(config).encode("azzb"), (Ids{4}));
}

TEST(TokenizerBpe, ByteFallbackUsesByteTokensWhenAllBytesExist) {
  json config = base_config();
  config["model"]["byte_fallback"] = true;
  const Tokenizer tokenizer = load(config);
  EXPECT_EQ(tokenizer.encode("ax"), (Ids{1, 9}));
  EXPECT_EQ(tokenizer.encode("\xC3\xA9"), (Ids{10, 11}));    // é -> <0xC3> <0xA9>
  EXPECT_EQ(tokenizer.encode("\xC3\xA8"), (Ids{0}));         // è: <0xA8> missing -> unk
}

TEST(TokenizerBpe, IgnoreMergesTakesWholeWordFromVocab) {
  json config = base_config();
  config["model"]["merges"] = json::array();
  EXPECT_EQ(load(config).encode("abc"), (Ids{1, 2, 3}));
  config["model"]["ignore_merges"] = true;
  EXPECT_EQ(load(config).encode("abc"), (Ids{5}));
}

// Long pre-tokens are run through BPE word by word, cut before each U+2581; the cut must not happen where a
// token joins the character before the marker to it (here "c\u2581", or a byte-fallback token before it).
TEST(TokenizerBpe, WordCutsBeforeTheMarkerKeepMergesThatCrossIt) {
  json config = base_config();
  config["normalizer"] = json::parse(R"({"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"})");
  config["model"]["vocab"]["c\u2581"] = 15;
  config["model"]["vocab"]["<0x78>\u2581"] = 16;
  config["model"]["merges"] = json::parse(R"(["c \u2581", "<0x78> \u2581", "a b", "ab c", "\u2581 a"])");
  config["model"]["byte_fallback"] = true;
  const Tokenizer tokenizer = load(config);
  EXPECT_EQ(tokenizer.encode("bc d"), (Ids{2, 15, 14}));      // c + \u2581 merge across the word boundary
  EXPECT_EQ(tokenizer.encode("x d"), (Ids{16, 14}));          // <0x78> + \u2581 (x is not in the vocab)
  EXPECT_EQ(tokenizer.encode("ab d"), (Ids{4, 7, 14}));       // cut: ab | \u2581 d
  EXPECT_EQ(tokenizer.encode("abab a ab"), (Ids{4, 4, 8, 7, 4}));
  // The same words again come from the word cache.
  EXPECT_EQ(tokenizer.encode("bc d ab d"), (Ids{2, 15, 14, 7, 4, 7, 14}));
}

TEST(TokenizerBpe, RejectsMergesOutsideTheVocab) {
  json config = base_config();
  config["model"]["merges"] = json::parse(R"(["c d"])");
  try {
    load(config);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("merge 1"), std::string::npos) << e.what();
  }
}

TEST(TokenizerPipeline, NormalizerAndMetaspacePreTokenizer) {
  json config = base_config();
  config["pre_tokenizer"] = json::parse(R"({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": true})");
  config["decoder"] = json::parse(R"({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": true})");
  const Tokenizer tokenizer = load(config);
  // " a a" -> "▁a", "▁a" (the prefix is not doubled since the text already starts with the replacement)
  EXPECT_EQ(tokenizer.encode("a a"), (Ids{8, 8}));
  EXPECT_EQ(tokenizer.decode(Ids{8, 8}), "a a");  // the first token's leading replacement is dropped
}

TEST(TokenizerPipeline, ReplaceNormalizerAndSplitMergedWithPrevious) {
  json config = base_config();
  config["normalizer"] = json::parse(R"({"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"})");
  config["pre_tokenizer"] = json::parse(R"({"type": "Split", "pattern": {"String": "\u2581"}, "behavior": "MergedWithNext", "invert": false})");
  config["decoder"] = json::parse(R"({"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}]})");
  const Tokenizer tokenizer = load(config);
  EXPECT_EQ(tokenizer.encode("ab a"), (Ids{4, 8}));
  EXPECT_EQ(tokenizer.decode(Ids{4, 8}), "ab a");
}

TEST(TokenizerPipeline, TemplatePostProcessorAddsBos) {
  json config = base_config();
  config["added_tokens"] = json::parse(R"([{"id": 12, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}])");
  config["post_processor"] = json::parse(R"({"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [12], "tokens": ["<s>"]}}})");
  const Tokenizer tokenizer = load(config);
  EXPECT_EQ(tokenizer.encode("ab"), (Ids{12, 4}));
  EXPECT_EQ(tokenizer.encode("ab", false), (Ids{4}));
  EXPECT_EQ(tokenizer.encode("a<s>b", false), (Ids{1, 12, 2}));
  EXPECT_EQ(tokenizer.bos_id(), 12);
  EXPECT_TRUE(tokenizer.is_special(12));
  EXPECT_FALSE(tokenizer.is_special(4));
  EXPECT_EQ(tokenizer.decode(Ids{12, 4}, false), "<s> ab");  // no decoder: tokens joined by spaces
  EXPECT_EQ(tokenizer.decode(Ids{12, 4}, true), "ab");
}

TEST(TokenizerAddedTokens, LongestMatchAndStripFlags) {
  json config = base_config();
  config["vocab"] = nullptr;
  config["added_tokens"] = json::parse(R"([
      {"id": 15, "content": "<x>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": false},
      {"id": 16, "content": "<x>>", "single_word": false, "lstrip": true, "rstrip": true, "normalized": false, "special": true},
      {"id": 17, "content": "dd", "single_word": true, "lstrip": false, "rstrip": false, "normalized": false, "special": false}])");
  const Tokenizer tokenizer = load(config);
  // Added contents not in the model vocab get ids after it (the file's ids are not used), in order.
  EXPECT_EQ(tokenizer.token_to_id("<x>"), 15);
  EXPECT_EQ(tokenizer.token_to_id("<x>>"), 16);
  EXPECT_EQ(tokenizer.vocab_size(), 18);
  EXPECT_EQ(tokenizer.encode("a<x>b"), (Ids{1, 15, 2}));
  EXPECT_EQ(tokenizer.encode("a  <x>>  b"), (Ids{1, 16, 2}));  // longest match, spaces stripped both sides
  EXPECT_EQ(tokenizer.encode("a dd b"), (Ids{1, 13, 17, 13, 2}));
  EXPECT_EQ(tokenizer.encode("add"), (Ids{1, 14, 14}));         // single_word: not inside a word
}

TEST(TokenizerErrors, UnsupportedComponentsAreNamed) {
  json config = base_config();
  config["normalizer"] = json::parse(R"({"type": "NFKD"})");
  try {
    load(config);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NFKD"), std::string::npos) << e.what();
  }
  config = base_config();
  config["model"]["type"] = "WordPiece";
  EXPECT_THROW(load(config), Error);
  config = base_config();
  config["decoder"] = json::parse(R"({"type": "CTC"})");
  EXPECT_THROW(load(config), Error);
  EXPECT_THROW(Tokenizer::from_json_string("{not json"), Error);
  config = base_config();
  config["model"].erase("merges");
  EXPECT_THROW(load(config), Error);
  config = base_config();
  config["model"]["vocab"]["a"] = "one";
  EXPECT_THROW(load(config), Error);
  EXPECT_THROW(Tokenizer::from_dir("/nonexistent/model"), Error);
}

TEST(TokenizerErrors, BadInputGivesClearErrors) {
  const Tokenizer tokenizer = load(base_config());
  EXPECT_THROW(tokenizer.encode("a\xFF"), Error);
  EXPECT_THROW(tokenizer.decode(Ids{1, 99}), Error);
  EXPECT_THROW(tokenizer.decode(Ids{-1}), Error);
  EXPECT_THROW(tokenizer.id_to_token(1000), Error);
}

TEST(TokenizerDecoders, ByteFallbackInvalidRunBecomesOneReplacementPerByte) {
  json config = base_config();
  config["decoder"] = json::parse(R"({"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]})");
  const Tokenizer tokenizer = load(config);
  EXPECT_EQ(tokenizer.decode(Ids{1, 10, 11, 2}), "a\xC3\xA9" "b");
  EXPECT_EQ(tokenizer.decode(Ids{10, 10, 11}), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(tokenizer.decode(Ids{10}), "\xEF\xBF\xBD");
}

TEST(TokenizerDecoders, StripRemovesLeadingContent) {
  json config = base_config();
  config["decoder"] = json::parse(R"({"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]})");
  EXPECT_EQ(load(config).decode(Ids{8, 8}), "a a");
}

TEST(TokenizerStreaming, ConcatenationEqualsDecodeWithByteRuns) {
  json config = base_config();
  config["decoder"] = json::parse(R"({"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}]})");
  config["added_tokens"] = json::parse(R"([{"id": 12, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}])");
  const Tokenizer tokenizer = load(config);
  const std::vector<Ids> cases = {{1, 10, 11, 8, 2}, {10, 11, 10}, {9, 10, 12, 11, 8}, {10, 11, 12, 10, 10}, {8, 8, 8, 8, 8, 8, 8}};
  for (bool skip : {false, true}) {
    for (const Ids& ids : cases) {
      StreamingDecoder stream(tokenizer, skip);
      std::string streamed;
      for (int32_t id : ids) {
        const std::string piece = stream.push(id);
        EXPECT_TRUE(unicode::is_valid_utf8(piece));
        streamed += piece;
      }
      streamed += stream.flush();
      EXPECT_EQ(streamed, tokenizer.decode(ids, skip));
    }
  }
  // A complete character split over byte tokens is only returned once complete, never as U+FFFD.
  StreamingDecoder stream(tokenizer);
  EXPECT_EQ(stream.push(10), "");
  EXPECT_EQ(stream.push(11), "");  // the run may still grow
  EXPECT_EQ(stream.push(1), "\xC3\xA9" "a");
  EXPECT_EQ(stream.flush(), "");
}

}  // namespace
}  // namespace glint

namespace glint::tokenizer_detail {
namespace {

TEST(TokenizerRegex, WhitespaceClassMatchesOniguruma) {
  // \s is Unicode White_Space, as in Oniguruma: U+3000 and U+0085 are spaces, U+180E is not (PCRE2 says it is).
  const Regex space(R"(\s+)");
  EXPECT_EQ(space.find_all("a\xE3\x80\x80" "b").size(), 1u);
  EXPECT_EQ(space.find_all("a\xC2\x85" "b").size(), 1u);
  EXPECT_TRUE(space.find_all("a\xE1\xA0\x8E" "b").empty());
  const Regex not_space_or_letter(R"([^\s\p{L}]+)");
  EXPECT_EQ(not_space_or_letter.find_all("ab \xE1\xA0\x8E!").size(), 1u);
  const Regex lookahead(R"(\s+(?!\S))");
  const auto matches = lookahead.find_all("a   b");
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0], (std::pair<size_t, size_t>{1, 3}));
  // Escapes, classes and quoting are left alone.
  EXPECT_EQ(Regex(R"([\]s]+)").find_all("s]x").size(), 1u);
  EXPECT_EQ(Regex(R"(\Q\s\E)").find_all("a\\sb").size(), 1u);
  EXPECT_EQ(Regex(R"([[:digit:]\s]+)").find_all("1 2x").size(), 1u);
}

// Texts of 256 KB and more are searched in parallel parts; the matches must be those of one search from the
// start, also for patterns with long matches, lookahead and empty matches (the onig skipping rule).
TEST(TokenizerRegex, ParallelSearchOfLargeTextEqualsSerial) {
  std::string text;
  uint64_t state = 12345;
  const char* pieces[] = {"a", "b", " ", "  ", "\n", "\n\n", "x.", "\xE4\xB8\xAD", "'s", "123", "\t"};
  while (text.size() < 900000) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    text += pieces[(state >> 33) % std::size(pieces)];
    if (text.size() > 300000 && text.size() < 310000) text += std::string(300000, 'a');  // longer than a part
  }
  const int threads = thread_count();
  for (const char* pattern : {R"('s|\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
                              R"(a*)", R"(\s*)", R"(b|(?=\n))", R"([^\n]+)", R"(.{5})", R"(.{7})"}) {
    const Regex regex(pattern);
    set_thread_count(1);
    const auto serial = regex.find_all(text);
    set_thread_count(4);
    EXPECT_EQ(regex.find_all(text), serial) << pattern;
  }
  set_thread_count(threads);
}

}  // namespace
}  // namespace glint::tokenizer_detail
