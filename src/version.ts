/** The library's version, announced in HELLO as `fileshare/<version>`. Kept in step with package.json by a test. */
export const VERSION = '0.0.0';
