import type { HandlerTable } from './handler.ts';
import { deleteFile } from './delete.ts';
import { discard } from './discard.ts';
import { download } from './download.ts';
import { list } from './list.ts';
import { login } from './login.ts';
import { logout } from './logout.ts';
import { mkdir } from './mkdir.ts';
import { rename } from './rename.ts';
import { resume } from './resume.ts';
import { rmdir } from './rmdir.ts';
import { stat } from './stat.ts';
import { upload } from './upload.ts';
import { uploadBatch } from './upload-batch.ts';

/** The dispatch table: protocol operation name → handler. @internal */
export const HANDLERS: HandlerTable = Object.freeze({
  login,
  resume,
  logout,
  list,
  stat,
  mkdir,
  rmdir,
  delete: deleteFile,
  rename,
  upload,
  'upload-batch': uploadBatch,
  download,
  discard,
});
