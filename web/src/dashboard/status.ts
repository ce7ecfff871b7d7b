// The lab's live status: the document of `ztm lab status --json` (docs/lab.md, "status --json"),
// served by the dashboard's server at /api/status. Only the fields the page reads are typed.

export interface LabProcess {
  name: string; // "web1/ztm"
  pid: number;
  state: "pending" | "starting" | "running" | "exited" | "stopped" | string;
  healthy: boolean;
  exit?: string;
}

export interface LabHost {
  name: string;
  dc: string;
  address: string;
  public_address?: string;
  roles: string[];
  processes: LabProcess[];
  role?: string; // a database or Redis host's replication role
}

export interface LabStatus {
  stage: string;
  figure?: string;
  url: string;
  hosts: LabHost[];
}

export async function fetchStatus(): Promise<LabStatus> {
  const response = await fetch("/api/status", {
    cache: "no-store",
    signal: AbortSignal.timeout(4000),
  });
  if (!response.ok) throw new Error(`the lab's status: ${response.status}`);
  return (await response.json()) as LabStatus;
}

// Green: every process running and healthy. Anything else (one not running, one unhealthy) is
// red: what the chapter's figure would show as a server out of service.
export function healthy(host: LabHost): boolean {
  return host.processes.every((p) => p.state === "running" && p.healthy);
}
