/**
 * A synthetic, learnable sentiment task written in SST-2's exact layout (header `sentence\tlabel`, lower-case
 * tokens separated by spaces, a space before the tab, LF line ends, `0` = negative, `1` = positive), so that
 * demos and tests run the real reader and the real T5 formatting without the real data. Seeded: the same
 * options give byte-identical files.
 *
 * A sentence carries one or two sentiment words of its class; one in six is negated ("is not dull" is
 * positive), so a model must read more than a single word to reach 100 %.
 */
import type { FileAccess } from "./files.ts";
import { SeededRandom } from "./random.ts";

const POSITIVE = ["good", "great", "wonderful", "charming", "moving", "delightful", "brilliant", "funny", "touching", "beautiful", "smart", "engaging"];
const NEGATIVE = ["bad", "boring", "dull", "awful", "tedious", "clumsy", "lifeless", "stupid", "ugly", "tiresome", "bland", "messy"];
const SUBJECTS = ["the film", "this movie", "the plot", "the cast", "the script", "the ending", "its soundtrack", "the story", "the acting", "the dialogue"];
const ADVERBS = ["very", "really", "quite", "truly", "rather", "remarkably"];
const NOUNS = ["film", "movie", "comedy", "drama", "thriller", "story"];

export interface SyntheticExample {
  readonly sentence: string;
  /** 0 = negative, 1 = positive. */
  readonly label: 0 | 1;
}

/** `count` synthetic SST-2 examples (sentences end with " ." and a space, as SST-2's do). */
export function syntheticSst2Examples(count: number, seed = 0): SyntheticExample[] {
  const random = new SeededRandom(seed, 0x5572);
  const out: SyntheticExample[] = [];
  for (let i = 0; i < count; i++) out.push(one(random));
  return out;
}

function one(random: SeededRandom): SyntheticExample {
  const label = random.int(2) as 0 | 1;
  const negated = random.int(6) === 0;
  const wordClass = negated ? 1 - label : label;
  const words = wordClass === 1 ? POSITIVE : NEGATIVE;
  const adj = random.pick(words);
  const subject = random.pick(SUBJECTS);
  let sentence: string;
  if (negated) {
    sentence = `${subject} is not ${random.pick(ADVERBS)} ${adj} .`;
  } else {
    switch (random.int(4)) {
      case 0:
        sentence = `${subject} is ${adj} .`;
        break;
      case 1:
        sentence = `${subject} is ${random.pick(ADVERBS)} ${adj} .`;
        break;
      case 2:
        sentence = `a ${adj} and ${random.pick(words)} ${random.pick(NOUNS)} .`;
        break;
      default:
        sentence = `${subject} feels ${adj} , and ${random.pick(SUBJECTS)} is ${random.pick(words)} .`;
    }
  }
  return { sentence: `${sentence} `, label };
}

export interface SyntheticSst2Options {
  /** Folder of the task folders; the files go to `<dir>/<taskDir>/{train,dev[,test]}.tsv`. */
  readonly dir: string;
  /** Task folder name (default "SST-2", so `readGlue({ task: "sst2", dir })` reads it). */
  readonly taskDir?: string;
  readonly seed?: number;
  /** Rows per split (defaults 2000 / 200 / 0; a split with 0 rows is not written). */
  readonly train?: number;
  readonly validation?: number;
  readonly test?: number;
}

export interface SyntheticSst2Result {
  /** Paths written, by split. */
  readonly files: Readonly<Partial<Record<"train" | "validation" | "test", string>>>;
  /** [negative, positive] count per labelled split. */
  readonly labelCounts: Readonly<Partial<Record<"train" | "validation", readonly [number, number]>>>;
}

/** Writes a synthetic task in SST-2's layout (test.tsv like GLUE's: `index\tsentence`, no labels). */
export async function writeSyntheticSst2(files: FileAccess, options: SyntheticSst2Options): Promise<SyntheticSst2Result> {
  const folder = files.join(options.dir, options.taskDir ?? "SST-2");
  await files.mkdirp(folder);
  const seed = options.seed ?? 0;
  const written: Partial<Record<"train" | "validation" | "test", string>> = {};
  const labelCounts: Partial<Record<"train" | "validation", readonly [number, number]>> = {};
  const encoder = new TextEncoder();
  const splits = [
    ["train", "train.tsv", options.train ?? 2000],
    ["validation", "dev.tsv", options.validation ?? 200],
    ["test", "test.tsv", options.test ?? 0],
  ] as const;
  for (const [split, name, count] of splits) {
    if (count <= 0) continue;
    // Each split has its own stream of the seed, so changing one split's size leaves the others alone.
    const random = new SeededRandom(seed, 0x5572, split.length * 131 + name.charCodeAt(0));
    const counts: [number, number] = [0, 0];
    const chunks = function* (): Generator<Uint8Array> {
      let text = split === "test" ? "index\tsentence\n" : "sentence\tlabel\n";
      for (let i = 0; i < count; i++) {
        const { sentence, label } = one(random);
        counts[label]++;
        text += split === "test" ? `${i}\t${sentence}\n` : `${sentence}\t${label}\n`;
        if (text.length > 1 << 16) {
          yield encoder.encode(text);
          text = "";
        }
      }
      yield encoder.encode(text);
    };
    const path = files.join(folder, name);
    await files.writeAtomic(path, chunks());
    written[split] = path;
    if (split !== "test") labelCounts[split] = counts;
  }
  return { files: written, labelCounts };
}
