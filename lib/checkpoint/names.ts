/** Where checkpoints live, relative to the store's root. */
export const CHECKPOINT_DIR = 'checkpoints';
/** The staging name every checkpoint is written under before it is renamed to its own. */
export const PENDING_NAME = 'pending';
export const CHECKPOINT_PENDING = `${CHECKPOINT_DIR}/${PENDING_NAME}`;
