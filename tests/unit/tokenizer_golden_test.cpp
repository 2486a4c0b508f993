// Exact agreement with the reference `tokenizers` library, on goldens made by
// tests/reference/make_tokenizer_goldens.py (committed under tests/reference/tokenizer_goldens/).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/tokenizer.h"

namespace glint {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

std::string tokenizer_dir(const std::string& name) {
  if (const char* data = std::getenv("GLINT_DATA")) return std::string(data) + "/tokenizers/" + name;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.cache/glint/tokenizers/" + name;
}

std::string golden_dir(const std::string& name) {
  return std::string(GLINT_SOURCE_DIR) + "/tests/reference/tokenizer_goldens/" + name;
}

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) rows.push_back(json::parse(line));
  }
  return rows;
}

std::string show(const std::string& text) { return json(text).dump(-1, ' ', true).substr(0, 300); }

class TokenizerGolden : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(tokenizer_dir(GetParam()) + "/tokenizer.json")) {
      GTEST_SKIP() << "skipped: tokenizer data missing (run scripts/fetch_tokenizers.sh)";
    }
    if (!std::filesystem::exists(golden_dir(GetParam()) + "/encode.jsonl")) {
      GTEST_SKIP() << "skipped: tokenizer goldens missing (tests/reference/make_tokenizer_goldens.py)";
    }
    static std::map<std::string, std::shared_ptr<Tokenizer>> cache;
    auto& slot = cache[GetParam()];
    if (!slot) slot = std::make_shared<Tokenizer>(Tokenizer::from_dir(tokenizer_dir(GetParam())));
    tokenizer_ = slot;
  }
  std::shared_ptr<Tokenizer> tokenizer_;
};

TEST_P(TokenizerGolden, EncodeAndDecodeMatchReference) {
  const auto rows = read_jsonl(golden_dir(GetParam()) + "/encode.jsonl");
  ASSERT_GT(rows.size(), 100u);
  int mismatches = 0, checked = 0;
  for (const json& row : rows) {
    if (row.contains("error")) continue;
    const std::string text = row["text"].get<std::string>();
    ++checked;
    const Ids ids = tokenizer_->encode(text, true);
    const Ids ids_no_special = tokenizer_->encode(text, false);
    const Ids expected = row["ids"].get<Ids>();
    const Ids expected_no_special = row["ids_no_special"].get<Ids>();
    bool ok = ids == expected && ids_no_special == expected_no_special;
    EXPECT_EQ(ids, expected) << "text " << show(text);
    EXPECT_EQ(ids_no_special, expected_no_special) << "text " << show(text);
    const std::string decoded = tokenizer_->decode(expected, false);
    const std::string decoded_skip = tokenizer_->decode(expected, true);
    ok = ok && decoded == row["decoded"].get<std::string>() && decoded_skip == row["decoded_skip"].get<std::string>();
    EXPECT_EQ(show(decoded), show(row["decoded"].get<std::string>())) << "text " << show(text);
    EXPECT_EQ(show(decoded_skip), show(row["decoded_skip"].get<std::string>())) << "text " << show(text);
    if (!ok) ++mismatches;
  }
  EXPECT_EQ(mismatches, 0) << "of " << checked << " texts";
}

TEST_P(TokenizerGolden, DecodeOfRandomIdsMatchesReference) {
  const auto rows = read_jsonl(golden_dir(GetParam()) + "/decode.jsonl");
  ASSERT_GT(rows.size(), 50u);
  for (const json& row : rows) {
    if (row.contains("error")) continue;
    const Ids ids = row["ids"].get<Ids>();
    const std::string decoded = tokenizer_->decode(ids, false);
    const std::string decoded_skip = tokenizer_->decode(ids, true);
    EXPECT_EQ(show(decoded), show(row["decoded"].get<std::string>())) << "ids " << json(ids).dump();
    EXPECT_EQ(show(decoded_skip), show(row["decoded_skip"].get<std::string>())) << "ids " << json(ids).dump();
    // Our streaming decoder must add up to the reference's full decode.
    for (bool skip : {false, true}) {
      StreamingDecoder stream(*tokenizer_, skip);
      std::string streamed;
      for (int32_t id : ids) streamed += stream.push(id);
      streamed += stream.flush();
      EXPECT_EQ(show(streamed), show(row[skip ? "decoded_skip" : "decoded"].get<std::string>()))
          << "streamed ids " << json(ids).dump();
    }
  }
}

TEST_P(TokenizerGolden, VocabMatchesReference) {
  std::ifstream in(golden_dir(GetParam()) + "/meta.json");
  ASSERT_TRUE(in) << "meta.json missing";
  const json meta = json::parse(in);
  EXPECT_EQ(tokenizer_->vocab_size(), meta["vocab_size"].get<int32_t>());
  for (const auto& [id_text, token] : meta["id_to_token"].items()) {
    const int32_t id = std::stoi(id_text);
    EXPECT_EQ(tokenizer_->id_to_token(id), token.is_null() ? std::string() : token.get<std::string>()) << "id " << id;
    if (!token.is_null()) EXPECT_EQ(tokenizer_->token_to_id(token.get<std::string>()), id) << "id " << id;
  }
  for (int32_t id : meta["special_ids"].get<Ids>()) EXPECT_TRUE(tokenizer_->is_special(id)) << "id " << id;
}

INSTANTIATE_TEST_SUITE_P(RealTokenizers, TokenizerGolden, testing::Values("gemma3", "llama3_1"));

}  // namespace
}  // namespace glint
