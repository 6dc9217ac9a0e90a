/** The evaluation classifier for tests: the pinned network shipped in the repository. */
import { classifierReady, PINNED_CLASSIFIER_DIR } from '../../src/shared/eval/classifier-files.js';

/** The pinned network's directory; throws when the checkout lacks it (a test then fails, it never trains one). */
export async function pinnedClassifier(): Promise<string> {
  if (!(await classifierReady(PINNED_CLASSIFIER_DIR))) throw new Error(`the pinned classifier is missing from ${PINNED_CLASSIFIER_DIR} (git checkout -- assets/classifier)`);
  return PINNED_CLASSIFIER_DIR;
}
