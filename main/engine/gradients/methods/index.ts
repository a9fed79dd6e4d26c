// The gradient family's methods, registered here once: row methods are reducers over the answer rows' reverse
// passes (./row-reducer); integrated gradients run their own path-point batches (./integrated-gradients).
// Every id is a method id of shared/method-catalog.
import { gradXInputReducer } from './grad-x-input';
import { rawGradientReducer } from './raw-gradient';
import type { RowReducer } from './row-reducer';
import { saliencyReducer } from './saliency';

export const ROW_METHODS: Readonly<Record<string, RowReducer>> = Object.freeze(
  Object.fromEntries([saliencyReducer, gradXInputReducer, rawGradientReducer].map((reducer) => [reducer.id, reducer])),
);

/** Methods that integrate along a path instead of reducing answer rows. */
export const PATH_METHODS: readonly string[] = Object.freeze(['integrated_gradients']);

/** Every gradient method id the engine computes. */
export const GRADIENT_METHOD_IDS: readonly string[] = Object.freeze([...Object.keys(ROW_METHODS), ...PATH_METHODS]);
