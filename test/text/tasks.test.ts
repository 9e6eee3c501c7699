import { strict as assert } from "node:assert";
import { TASKS, WALKTHROUGH_TASKS, findTask, getTask } from "../../src/text/tasks";

describe("tasks", () => {
  it("has the reference's 15 task tokens, each once, with brackets around its name", () => {
    assert.equal(TASKS.length, 15);
    assert.equal(new Set(TASKS.map((t) => t.token)).size, 15);
    for (const t of TASKS) assert.equal(t.token, `<${t.name}>`);
  });

  it("lists the walkthrough's 14 tasks in its order, without <REGION_TO_OCR>", () => {
    assert.deepEqual(
      WALKTHROUGH_TASKS.map((t) => t.name),
      [
        "CAPTION", "DETAILED_CAPTION", "MORE_DETAILED_CAPTION", "OD", "DENSE_REGION_CAPTION", "REGION_PROPOSAL",
        "CAPTION_TO_PHRASE_GROUNDING", "OPEN_VOCABULARY_DETECTION", "REFERRING_EXPRESSION_SEGMENTATION",
        "REGION_TO_SEGMENTATION", "REGION_TO_CATEGORY", "REGION_TO_DESCRIPTION", "OCR", "OCR_WITH_REGION",
      ],
    );
    assert.ok(WALKTHROUGH_TASKS.every((t) => t.japaneseName));
  });

  it("puts {input} in the prompt exactly when the task takes an input", () => {
    for (const t of TASKS) assert.equal(t.prompt.includes("{input}"), t.input !== "none", t.token);
  });

  it("orders the tokens as the reference's two prompt dicts (no-input tasks first)", () => {
    const order = [...TASKS].sort((a, b) => a.referenceOrder - b.referenceOrder).map((t) => t.name);
    assert.deepEqual(order, [
      "OCR", "OCR_WITH_REGION", "CAPTION", "DETAILED_CAPTION", "MORE_DETAILED_CAPTION", "OD", "DENSE_REGION_CAPTION",
      "REGION_PROPOSAL", "CAPTION_TO_PHRASE_GROUNDING", "REFERRING_EXPRESSION_SEGMENTATION", "REGION_TO_SEGMENTATION",
      "OPEN_VOCABULARY_DETECTION", "REGION_TO_CATEGORY", "REGION_TO_DESCRIPTION", "REGION_TO_OCR",
    ]);
  });

  it("finds a task by token only, as the reference does (lowercase is not a task)", () => {
    assert.equal(findTask("<OD>")?.resultKind, "description_with_bboxes");
    assert.equal(findTask("<od>"), undefined);
    assert.equal(findTask("OD"), undefined);
  });

  it("getTask accepts the token or the name and explains an unknown task", () => {
    assert.equal(getTask("OCR_WITH_REGION").resultKind, "ocr");
    assert.equal(getTask("<REGION_PROPOSAL>").resultKind, "bboxes");
    assert.throws(() => getTask("<od>"), /Unknown Florence-2 task "<od>"\. Task tokens are upper-case: did you mean "<OD>"\?/);
    assert.throws(() => getTask("<FOO>"), (err: Error) => err.message.includes("Expected one of: <CAPTION>"));
  });
});
