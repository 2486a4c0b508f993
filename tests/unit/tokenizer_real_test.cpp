// The real Gemma 3 and Llama 3.1 tokenizers: known ids, round trips over the corpus, streaming invariants.
// Skipped when scripts/fetch_tokenizers.sh has not been run.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/thread_pool.h"
#include "io/tokenizer.h"
#include "io/unicode.h"

namespace glint {
namespace {

using Ids = std::vector<int32_t>;

std::string tokenizer_dir(const std::string& name) {
  if (const char* data = std::getenv("GLINT_DATA")) return std::string(data) + "/tokenizers/" + name;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.cache/glint/tokenizers/" + name;
}

// Loaded once per test binary: the Gemma file is 33 MB.
const Tokenizer* real_tokenizer(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second.get();
  std::unique_ptr<Tokenizer> tokenizer;
  if (std::filesystem::exists(tokenizer_dir(name) + "/tokenizer.json")) {
    tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_dir(tokenizer_dir(name)));
  }
  return cache.emplace(name, std::move(tokenizer)).first->second.get();
}

#define REQUIRE_TOKENIZER(var, name)                                                      \
  const Tokenizer* var = real_tokenizer(name);                                            \
  if (!var) GTEST_SKIP() << "skipped: tokenizer data missing (run scripts/fetch_tokenizers.sh)"

std::vector<std::string> corpus() {
  std::vector<std::string> texts;
  std::ifstream in(std::string(GLINT_SOURCE_DIR) + "/tests/reference/tokenizer_corpus.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) texts.push_back(nlohmann::json::parse(line).get<std::string>());
  }
  return texts;
}

std::string stream_decode(const Tokenizer& tokenizer, const Ids& ids, bool skip_special) {
  StreamingDecoder stream(tokenizer, skip_special);
  std::string out;
  for (int32_t id : ids) {
    const std::string piece = stream.push(id);
    EXPECT_TRUE(unicode::is_valid_utf8(piece));
    out += piece;
  }
  return out + stream.flush();
}

TEST(TokenizerGemma3, KnownIds) {
  REQUIRE_TOKENIZER(tokenizer, "gemma3");
  // 262144 model tokens plus <image_soft_token>, which is only an added token (numbered after the vocab).
  EXPECT_EQ(tokenizer->vocab_size(), 262145);
  EXPECT_EQ(tokenizer->token_to_id("<image_soft_token>"), 262144);
  EXPECT_EQ(tokenizer->bos_id(), 2);
  EXPECT_EQ(tokenizer->token_to_id("<bos>"), 2);
  EXPECT_EQ(tokenizer->token_to_id("<eos>"), 1);
  EXPECT_TRUE(tokenizer->is_special(2));
  EXPECT_EQ(tokenizer->encode("<bos>", false), (Ids{2}));
  EXPECT_EQ(tokenizer->encode(""), (Ids{2}));
  EXPECT_EQ(tokenizer->encode("", false), (Ids{}));
  const auto start_of_turn = tokenizer->token_to_id("<start_of_turn>");
  const auto newline = tokenizer->token_to_id("\n");
  ASSERT_TRUE(start_of_turn && newline);
  const Ids turn = tokenizer->encode("<start_of_turn>user\n", false);
  ASSERT_EQ(turn.size(), 3u);
  EXPECT_EQ(turn[0], *start_of_turn);
  EXPECT_EQ(tokenizer->id_to_token(turn[1]), "user");
  EXPECT_EQ(turn[2], *newline);
  // Spaces become U+2581 before the model runs.
  const Ids hello = tokenizer->encode("Hello world", false);
  ASSERT_EQ(hello.size(), 2u);
  EXPECT_EQ(tokenizer->id_to_token(hello[0]), "Hello");
  EXPECT_EQ(tokenizer->id_to_token(hello[1]), "\xE2\x96\x81world");
  // A character missing from the vocab falls back to byte tokens.
  EXPECT_EQ(tokenizer->decode(Ids{*tokenizer->token_to_id("<0xC3>"), *tokenizer->token_to_id("<0xA9>")}), "\xC3\xA9");
}

TEST(TokenizerLlama31, KnownIds) {
  REQUIRE_TOKENIZER(tokenizer, "llama3_1");
  EXPECT_EQ(tokenizer->vocab_size(), 128256);
  EXPECT_EQ(tokenizer->bos_id(), 128000);
  EXPECT_EQ(tokenizer->encode("Hello world"), (Ids{128000, 9906, 1917}));
  EXPECT_EQ(tokenizer->encode("<|begin_of_text|>Hi", false)[0], 128000);
  EXPECT_EQ(tokenizer->decode(Ids{128000, 9906, 1917}, true), "Hello world");
  EXPECT_EQ(tokenizer->decode(Ids{128000, 9906, 1917}, false), "<|begin_of_text|>Hello world");
}

TEST(TokenizerRealFiles, CorpusRoundTrips) {
  const auto texts = corpus();
  ASSERT_GT(texts.size(), 300u);
  for (const char* name : {"gemma3", "llama3_1"}) {
    REQUIRE_TOKENIZER(tokenizer, name);
    for (const std::string& text : texts) {
      const Ids ids = tokenizer->encode(text, false);
      // Gemma maps spaces to U+2581 and back, so a literal U+2581 in the input decodes as a space.
      if (std::string(name) == "gemma3" && text.find("\xE2\x96\x81") != std::string::npos) continue;
      EXPECT_EQ(tokenizer->decode(ids), text) << name;
    }
  }
}

TEST(TokenizerRealFiles, StreamingEqualsDecode) {
  const auto texts = corpus();
  for (const char* name : {"gemma3", "llama3_1"}) {
    REQUIRE_TOKENIZER(tokenizer, name);
    for (const std::string& text : texts) {
      const Ids ids = tokenizer->encode(text, true);
      for (bool skip : {false, true}) EXPECT_EQ(stream_decode(*tokenizer, ids, skip), tokenizer->decode(ids, skip));
    }
    // Random ids, including byte tokens that make broken UTF-8 and special tokens.
    std::mt19937 rng(7);
    std::vector<int32_t> bytes;
    for (int b = 0; b < 256; ++b) {
      char name_buffer[8];
      std::snprintf(name_buffer, sizeof(name_buffer), "<0x%02X>", b);
      if (auto id = tokenizer->token_to_id(name_buffer)) bytes.push_back(*id);
    }
    for (int round = 0; round < 300; ++round) {
      Ids ids;
      const int length = 1 + static_cast<int>(rng() % 20);
      for (int i = 0; i < length; ++i) {
        const uint32_t kind = rng() % 4;
        if (kind == 0 && !bytes.empty()) {
          ids.push_back(bytes[rng() % bytes.size()]);
        } else if (kind == 1) {
          ids.push_back(static_cast<int32_t>(rng() % 300));
        } else {
          ids.push_back(static_cast<int32_t>(rng() % static_cast<uint32_t>(tokenizer->vocab_size())));
        }
      }
      for (bool skip : {false, true}) {
        EXPECT_EQ(stream_decode(*tokenizer, ids, skip), tokenizer->decode(ids, skip)) << name << " round " << round;
      }
    }
  }
}

TEST(TokenizerRealFiles, ConcurrentEncodesAgree) {
  const auto texts = corpus();
  for (const char* name : {"gemma3", "llama3_1"}) {
    REQUIRE_TOKENIZER(tokenizer, name);
    // Threads race on the word cache of one Tokenizer (a fresh one for Llama, so its cache starts empty).
    const Tokenizer copy = std::string(name) == "llama3_1" ? Tokenizer::from_dir(tokenizer_dir(name)) : *tokenizer;
    std::vector<Ids> expected;
    for (const std::string& text : texts) expected.push_back(tokenizer->encode(text));
    std::vector<int> mismatches(4, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (size_t i = 0; i < texts.size(); ++i) {
          const size_t k = (i * 7 + static_cast<size_t>(t) * 13) % texts.size();
          if (copy.encode(texts[k]) != expected[k]) ++mismatches[t];
        }
      });
    }
    for (auto& thread : threads) thread.join();
    for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << name << " thread " << t;
  }
}

// Inputs of 256 KB and more are encoded in groups of pieces on the thread pool; the ids must be those of the
// serial encode, for a fresh tokenizer (cold word cache) and a warm one.
TEST(TokenizerRealFiles, ParallelEncodeOfLargeInputEqualsSerial) {
  std::string text;
  const auto texts = corpus();
  for (size_t i = 0; text.size() < 600000; ++i) text += texts[(i * 31) % texts.size()] + (i % 3 ? "\n" : " ");
  const int threads = thread_count();
  for (const char* name : {"gemma3", "llama3_1"}) {
    REQUIRE_TOKENIZER(tokenizer, name);
    set_thread_count(1);
    const Ids serial = Tokenizer::from_dir(tokenizer_dir(name)).encode(text);
    set_thread_count(4);
    const Tokenizer fresh = Tokenizer::from_dir(tokenizer_dir(name));
    EXPECT_EQ(fresh.encode(text), serial) << name << " cold";
    EXPECT_EQ(fresh.encode(text), serial) << name << " warm";
  }
  set_thread_count(threads);
}

}  // namespace
}  // namespace glint
