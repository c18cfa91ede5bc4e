// What an evaluation with attention knockout reports: plain data, shared by the scorer (src/bias/scan.ts),
// the CLI and the protocol, which the webviews import (so no imports here).

/** Counts over a labelled set under the knockout (answers: Yes iff P(Yes) ≥ 0.5). */
export interface KnockoutSummary {
  /** Prompts with at least one head knocked out. */
  knockedOut: number;
  /** Prompts answered No. */
  answeredNo: number;
  /** Of those, answered Yes once the heads are knocked out. */
  noFlippedToYes: number;
  /** Prompts labelled yes but answered No. */
  wrongNo: number;
  /** Of those, answered Yes (now right) once the heads are knocked out. */
  wrongNoFlippedToYes: number;
  /** Prompts labelled no and answered No that the knockout turns to Yes (now wrong). */
  rightNoFlippedToYes: number;
  /** Mean of knockout P(Yes) − P(Yes) over the prompts with heads knocked out (0 when none). */
  meanShift: number;
}
