// glint bench-tokenizer: encode throughput of DIR/tokenizer.json on one large string. The text is a file or a
// deterministic mix built here (prose in several scripts, code, CJK without spaces, emoji, numbers, whitespace
// runs). Each round loads the tokenizer fresh and times its first encode of the whole text (cold: the word
// cache is empty) and then a second encode of the same text (warm).
#include <CLI/CLI.hpp>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/command.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "io/tokenizer.h"

namespace glint::cli {
namespace {

// CPU time of all threads of this process: with the wall time it shows how many cores a run really had (the
// machine may be shared).
double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// A fixed 64-bit generator (splitmix64) so the text is the same on every platform and standard library.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
  bool chance(int percent) { return below(100) < static_cast<size_t>(percent); }
  // Index in [0, n) with probability roughly proportional to 1 / (index + 1): a few words are very common,
  // most are rare, as in natural text.
  size_t zipf(size_t n) {
    const double u = static_cast<double>(next() >> 11) / static_cast<double>(uint64_t{1} << 53);
    const auto index = static_cast<size_t>(std::exp(u * std::log(static_cast<double>(n) + 1.0)) - 1.0);
    return std::min(index, n - 1);
  }

 private:
  uint64_t state_;
};

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = std::min(text.find(' ', pos), text.size());
    if (end > pos) words.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return words;
}

// The words of one script: the seed words first (the most common), then a long tail of made-up words glued
// from syllables, so the text keeps meeting words it has not seen (as a real corpus does) while common words
// repeat.
class Lexicon {
 public:
  static constexpr size_t kTailWords = 50000;
  Lexicon(std::string_view seed_words, std::string_view syllables)
      : words_(split_words(seed_words)), syllables_(split_words(syllables)) {}
  std::string pick(Random& random) const {
    const size_t index = random.zipf(words_.size() + kTailWords);
    if (index < words_.size()) return words_[index];
    Random made_up(index * 7919 + syllables_.size());  // the same index always gives the same word
    std::string word;
    for (size_t i = 0, n = 2 + made_up.below(3); i < n; ++i) word += syllables_[made_up.below(syllables_.size())];
    return word;
  }

 private:
  std::vector<std::string> words_, syllables_;
};

// Seed vocabularies, most common words first (the sampler favours the front).
constexpr std::string_view kEnglish =
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have an they "
    "you were her she there been one all we their has would when if so no will more can about said into time only "
    "other new some could these two may first then do any like my now over such our man me even most made after "
    "also did many before must through back years where much your way well down should because each just those "
    "people how too little state good very make world still own see men work long get here between both life being "
    "under never day same another know while last might us great old year off come since against go came right used "
    "take three morning river engine quietly remarkable history mountain question library thousand government "
    "understanding photograph electricity nevertheless approximately kindergarten responsibility "
    "extraordinary infrastructure misunderstanding internationalization hydrodynamics";
constexpr std::string_view kRussian =
    "и в не на я что он с как а то это по к но они мы из у за она так же от бы вы было все его для о ты "
    "время человек жизнь день рука работа слово место лицо друг глаз вопрос дом сторона страна мир случай "
    "голова ребёнок сила конец вид система часть город отношение женщина деньги земля машина вода отец проблема "
    "государство правительство исследование возможность информация университет достопримечательность";
constexpr std::string_view kArabic =
    "في من على أن إلى عن مع هذا كان التي الذي لا ما هذه كل بين قد ذلك بعد عند هو هي لم أو ثم "
    "العالم الناس الوقت اليوم الحياة المدينة الكتاب البيت الطريق المدرسة الحكومة الجامعة المعلومات "
    "التكنولوجيا الاقتصادية المستشفى الديمقراطية والمسؤولية";
constexpr std::string_view kHindi =
    "के है में की और को से एक यह का कि पर भी नहीं हैं था लिए ने कर तो हो गया साथ अपने "
    "भारत सरकार समय लोग देश दुनिया पानी शहर किताब विद्यालय विश्वविद्यालय जानकारी प्रौद्योगिकी "
    "अर्थव्यवस्था स्वतंत्रता प्रधानमंत्री";
// CJK is written without spaces; these are the chunks a sentence is glued from.
constexpr std::string_view kChinese =
    "的 是 了 在 我们 他们 这个 一个 中国 时间 世界 问题 因为 所以 可以 没有 经济 发展 社会 政府 技术 "
    "大学 学生 研究 计算机 人工智能 自然语言 处理 模型 数据 天气 城市 历史 文化 朋友 今天 明天";
constexpr std::string_view kJapanese =
    "の に は を た が で て と し れ さ ある いる する こと これ それ 日本 東京 時間 世界 学校 先生 "
    "ありがとう ございます 大丈夫 コンピューター プログラム データ ラーメン 桜 山 川 静か 美しい";
constexpr std::string_view kEnglishSyllables =
    "ba con ter ing tion pre al ex ment ly st or un de ri ous able ver sa mo li gra phy ent ness ize cal tri";
constexpr std::string_view kRussianSyllables = "про ва ни ст ель ость ка ра ов ение за ли ми тор ск ий ная ко";
constexpr std::string_view kArabicSyllables = "ال م ت ك ب ر س و ن ة ي ع ق ف ح ل";
constexpr std::string_view kHindiSyllables = "क ना र ति प्र स्व म ल वा ज ता ी ध्य क्ष न्त ई";
constexpr std::string_view kChineseSyllables = "人 大 中 国 学 生 会 上 下 时 地 出 行 方 面 电 脑 网 络 新 闻 业 务 龙 鸟";
constexpr std::string_view kJapaneseSyllables = "か き く け こ さ し す た ち つ な に ま み ら り る ア イ ウ カ キ ク ン";
constexpr std::string_view kEmoji = "😀 😂 ❤️ 👍 🎉 🔥 ✨ 🙏 🚀 🌍 👨‍👩‍👧‍👦 🇯🇵 🏳️‍🌈 ☕ 🍕 🤖 ✅ ⚠️";
constexpr std::string_view kCodeLines[] = {
    "for (int i = 0; i < count; ++i) {",
    "if (value == nullptr) return std::nullopt;",
    "const auto result = compute(input, options);",
    "std::vector<int32_t> ids(tokens.begin(), tokens.end());",
    "}",
    "return total / static_cast<double>(n);",
    "def encode(self, text: str) -> list[int]:",
    "    return [self.vocab.get(w, self.unk_id) for w in text.split()]",
    "x = np.zeros((batch, seq_len, hidden), dtype=np.float32)",
    "# TODO: handle the empty case before the loop",
    "// Keeps the cache warm between calls.",
    "SELECT id, name FROM users WHERE created_at > '2024-01-01' ORDER BY id;",
    "fn main() { println!(\"{}\", args.len()); }",
    "let mut buffer = Vec::with_capacity(4096);",
    "<div class=\"container\"><span id=\"title\">Hello</span></div>",
    "{\"model\": \"gemma-3\", \"max_tokens\": 512, \"temperature\": 0.7}",
    "assert_eq!(parse(\"0x1F\"), Ok(31));",
    "while ((c = getchar()) != EOF) putchar(c);",
};

std::string number(Random& random) {
  switch (random.below(4)) {
    case 0: return std::to_string(random.below(100));
    case 1: return std::to_string(random.below(1000000));
    case 2: return std::to_string(random.below(10000)) + "." + std::to_string(random.below(100));
    default:
      return std::to_string(1900 + random.below(200)) + "-" + std::to_string(1 + random.below(12)) + "-" +
             std::to_string(1 + random.below(28));
  }
}

// One paragraph of space-separated words: sentences with punctuation, sometimes a number or an emoji.
void spaced_paragraph(Random& random, const Lexicon& words, const std::vector<std::string>& emoji,
                      std::string_view full_stop, std::string& out) {
  const size_t sentences = 2 + random.below(6);
  for (size_t s = 0; s < sentences; ++s) {
    const size_t length = 5 + random.below(20);
    for (size_t w = 0; w < length; ++w) {
      if (w > 0) out += random.chance(2) ? "  " : " ";
      if (random.chance(4)) {
        out += number(random);
      } else {
        std::string word = words.pick(random);
        if (w == 0 && !word.empty() && word[0] >= 'a' && word[0] <= 'z') word[0] = static_cast<char>(word[0] - 32);
        out += word;
      }
      if (w + 1 < length && random.chance(8)) out += ",";
    }
    out += full_stop;
    if (random.chance(5)) out += " " + emoji[random.below(emoji.size())];
    out += " ";
  }
  if (random.chance(30)) out.pop_back();  // no trailing space
}

void cjk_paragraph(Random& random, const Lexicon& chunks, std::string& out) {
  const size_t sentences = 2 + random.below(6);
  for (size_t s = 0; s < sentences; ++s) {
    const size_t length = 4 + random.below(16);
    for (size_t w = 0; w < length; ++w) {
      out += chunks.pick(random);
      if (w + 1 < length && random.chance(10)) out += "，";
      if (random.chance(3)) out += number(random);
    }
    out += "。";
  }
}

void code_block(Random& random, std::string& out) {
  const size_t lines = 3 + random.below(12);
  for (size_t l = 0; l < lines; ++l) {
    out.append(4 * random.below(4), ' ');
    if (random.chance(10)) out += '\t';
    out += kCodeLines[random.below(std::size(kCodeLines))];
    if (random.chance(5)) out += "   ";  // trailing whitespace
    out += '\n';
  }
}

// Deterministic mixed text of about `bytes` bytes (whole paragraphs, so slightly more).
std::string mixed_text(size_t bytes) {
  Random random(20260303);
  const Lexicon english(kEnglish, kEnglishSyllables), russian(kRussian, kRussianSyllables),
      arabic(kArabic, kArabicSyllables), hindi(kHindi, kHindiSyllables), chinese(kChinese, kChineseSyllables),
      japanese(kJapanese, kJapaneseSyllables);
  const std::vector<std::string> emoji = split_words(kEmoji);
  std::string text;
  text.reserve(bytes + 4096);
  while (text.size() < bytes) {
    const size_t kind = random.below(100);
    if (kind < 45) {
      spaced_paragraph(random, english, emoji, ".", text);
    } else if (kind < 55) {
      spaced_paragraph(random, russian, emoji, ".", text);
    } else if (kind < 61) {
      spaced_paragraph(random, arabic, emoji, ".", text);
    } else if (kind < 67) {
      spaced_paragraph(random, hindi, emoji, "।", text);
    } else if (kind < 74) {
      cjk_paragraph(random, chinese, text);
    } else if (kind < 79) {
      cjk_paragraph(random, japanese, text);
    } else if (kind < 94) {
      code_block(random, text);
    } else {
      for (size_t i = 0, n = 3 + random.below(10); i < n; ++i) text += number(random) + (random.chance(50) ? "\t" : ", ");
    }
    text += random.chance(70) ? "\n\n" : "\n";
    if (random.chance(3)) text += "\n\n\n";
  }
  return text;
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  GLINT_CHECK(in, "cannot open '", path, "'");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

int run_bench_tokenizer(int argc, char** argv) {
  CLI::App app("Encode throughput of DIR/tokenizer.json on one large string: a cold encode (fresh tokenizer, "
               "empty word cache) and a warm one, per round",
               "glint bench-tokenizer");
  std::string model_dir, file;
  double megabytes = 4.0;
  int rounds = 3, threads = 0;
  bool dump = false;
  app.add_option("--model", model_dir, "directory holding tokenizer.json")->required();
  app.add_option("--file", file, "text to encode (default: a deterministic mixed text built in memory)");
  app.add_option("--megabytes", megabytes, "size of the built-in text in MB (default 4)");
  app.add_option("--repeat", rounds, "rounds, each with a freshly loaded tokenizer (default 3)");
  app.add_option("--threads", threads, "worker threads (default: GLINT_THREADS or all cores)");
  app.add_flag("--dump-text", dump, "write the built-in text to stdout and exit");
  CLI11_PARSE(app, argc, argv);
  GLINT_CHECK(rounds >= 1, "--repeat must be at least 1");
  if (threads > 0) set_thread_count(threads);

  const std::string text = file.empty() ? mixed_text(static_cast<size_t>(megabytes * 1e6)) : read_whole_file(file);
  if (dump) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  const double mb = static_cast<double>(text.size()) / 1e6;
  std::printf("text: %.2f MB (%s), threads: %d\n", mb, file.empty() ? "built-in mix" : file.c_str(), thread_count());
  double best_cold = 1e30, best_warm = 1e30;
  size_t token_count = 0;
  for (int round = 0; round < rounds; ++round) {
    auto start = Clock::now();
    const Tokenizer tokenizer = Tokenizer::from_dir(model_dir);
    const double load = seconds_since(start);
    double cpu = process_cpu_seconds();
    start = Clock::now();
    const std::vector<int32_t> cold_ids = tokenizer.encode(text, false);
    const double cold = seconds_since(start);
    const double cold_cpu = process_cpu_seconds() - cpu;
    cpu = process_cpu_seconds();
    start = Clock::now();
    const std::vector<int32_t> warm_ids = tokenizer.encode(text, false);
    const double warm = seconds_since(start);
    const double warm_cpu = process_cpu_seconds() - cpu;
    GLINT_CHECK(cold_ids == warm_ids, "cold and warm encodes differ");
    token_count = cold_ids.size();
    std::printf("round %d: load %.2f s | cold %.3f s (cpu %.3f s) %.1f MB/s %.2f M tokens/s | warm %.3f s (cpu %.3f s) "
                "%.1f MB/s %.2f M tokens/s\n",
                round + 1, load, cold, cold_cpu, mb / cold, static_cast<double>(token_count) / cold / 1e6, warm,
                warm_cpu, mb / warm, static_cast<double>(token_count) / warm / 1e6);
    best_cold = std::min(best_cold, cold);
    best_warm = std::min(best_warm, warm);
  }
  std::printf("tokens: %zu (%.2f bytes/token)\n", token_count, static_cast<double>(text.size()) / token_count);
  std::printf("best: cold %.1f MB/s (%.2f M tokens/s), warm %.1f MB/s (%.2f M tokens/s)\n", mb / best_cold,
              static_cast<double>(token_count) / best_cold / 1e6, mb / best_warm,
              static_cast<double>(token_count) / best_warm / 1e6);
  return 0;
}

}  // namespace

GLINT_COMMAND("bench-tokenizer", "encode throughput of a tokenizer (MB/s, cold and warm)", run_bench_tokenizer);

}  // namespace glint::cli
