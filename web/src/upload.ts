// Photo upload with progress: XMLHttpRequest, because fetch() reports no upload progress.
// POST /users/{id}/photos as multipart/form-data; the server takes the first part that carries
// a file (src/api/multipart.cc), checks it is a JPEG, PNG or WebP (413 past media.max_upload_bytes).
import { ApiError, type Photo } from "./api";

export function uploadPhoto(
  userId: number,
  file: File,
  onProgress: (sent: number, total: number) => void,
): Promise<Photo> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/users/${userId}/photos`);
    xhr.withCredentials = true;
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    });
    xhr.addEventListener("load", () => {
      let body: { error?: { code?: string; message?: string } } & Partial<Photo> = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // not JSON: described by the status below
      }
      if (xhr.status === 201 && typeof body.id === "number") {
        resolve(body as Photo);
      } else {
        reject(
          new ApiError(
            body.error?.message ?? `the server answered ${xhr.status} ${xhr.statusText}`,
            xhr.status,
            body.error?.code ?? `http_${xhr.status}`,
          ),
        );
      }
    });
    const failed = (what: string) => () =>
      reject(
        new ApiError(`The upload ${what}. Check your connection and try again.`, 0, "network"),
      );
    xhr.addEventListener("error", failed("failed (network error)"));
    xhr.addEventListener("timeout", failed("timed out"));
    xhr.addEventListener("abort", failed("was cancelled"));
    const form = new FormData();
    form.append("photo", file, file.name);
    xhr.send(form);
  });
}
