// Added tokens (special and not) are cut out of the text before the model runs: leftmost-longest matching
// with the single_word / lstrip / rstrip rules of the reference library.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/tokenizer_components.h"

namespace glint::tokenizer_detail {

struct AddedToken {
  std::string content;
  std::string decode_text;  // content, or its normalized form for normalized tokens (what decode() shows)
  int32_t id = -1;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
};

class AddedTokenMatcher {
 public:
  // `patterns[i]` is matched for `tokens[i]`.
  void build(std::vector<std::string> patterns, std::vector<const AddedToken*> tokens);
  bool empty() const { return tokens_.empty(); }
  // Splits one text piece into text pieces and added-token pieces (empty pieces are dropped).
  void split(Piece piece, Pieces& out) const;

 private:
  struct Match {
    size_t begin, end;
    const AddedToken* token;
  };
  std::vector<Match> find_leftmost_longest(std::string_view text) const;

  std::vector<const AddedToken*> tokens_;
  // Byte trie: node 0 is the root; edges keyed by node * 256 + byte.
  std::unordered_map<uint64_t, int32_t> edges_;
  std::vector<int32_t> terminal_;  // token index ending at each node, or -1
  bool first_byte_[256] = {};
};

}  // namespace glint::tokenizer_detail
