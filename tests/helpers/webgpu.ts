/**
 * The webgpu tests run on Mesa's lavapipe from .cache/mesa (unpacked by scripts/fetch-mesa.sh, which
 * .ci/run calls). When it is missing they fail with the command to run: they never skip.
 */
import { existsSync } from 'node:fs';
import { LAVAPIPE_ICD } from '../../src/shared/backend/webgpu.js';

export function requireLavapipe(): void {
  if (!existsSync(LAVAPIPE_ICD)) throw new Error(`the webgpu tests need Mesa's lavapipe in ${LAVAPIPE_ICD}: run scripts/fetch-mesa.sh`);
}

export { LAVAPIPE_ICD };
