//! Why each Compose field byoc does not map is dropped: one reason per well-known key, at the
//! top level, on a service, under `build` and under `deploy`, and a generic one for keys nobody
//! knows. Pure data.

/// Reason for a top-level key that is not converted.
pub(crate) fn top_level(key: &str) -> String {
    let reason = match key {
        "version" => "obsolete, ignored (Compose ignores it too)",
        "volumes" => {
            "Fargate tasks here have no persistent volumes; keep data in a managed store (RDS, S3, EFS)"
        }
        "networks" => {
            "services share the account's VPC and reach each other by their Compose names; networks are not created"
        }
        "configs" => {
            "there are no file mounts here; bake the file into the image or pass its content as an environment variable"
        }
        "models" => "Compose models have no equivalent here",
        k if k.starts_with("x-") => "extension field, ignored (anchors defined in it still apply)",
        _ => "not a top-level Compose field byoc knows; ignored",
    };
    reason.to_string()
}

/// Reason for a service key that is not converted.
pub(crate) fn service(key: &str) -> String {
    let reason = match key {
        "volumes" | "volumes_from" => {
            "Fargate tasks here have no volumes or bind mounts: files written in the container are lost when the task stops; keep data in a managed store (RDS, S3, EFS) and bake files into the image"
        }
        "privileged" => "Fargate does not run privileged containers",
        "cap_add" | "cap_drop" => "Linux capabilities cannot be changed on Fargate here",
        "network_mode" => {
            "every task gets its own network interface in the account's VPC (awsvpc mode); network_mode cannot be changed"
        }
        "networks" => {
            "services share the account's network and reach each other by their Compose names; there is one private name per service, its Compose name, and no aliases"
        }
        "devices" | "device_cgroup_rules" => "Fargate gives no access to host devices",
        "gpus" => "Fargate has no GPUs",
        "ulimits" => "ulimits cannot be set here",
        "sysctls" => "kernel parameters (sysctls) cannot be set here",
        "pid" => "Fargate tasks do not share a PID namespace",
        "ipc" => "Fargate tasks do not share an IPC namespace",
        "uts" | "userns_mode" | "cgroup" | "cgroup_parent" => {
            "Fargate manages namespaces and cgroups itself"
        }
        "tmpfs" => "no tmpfs mounts here; write to the container's own file system",
        "user" => "the image's USER is used; set USER in the Dockerfile",
        "group_add" => "supplementary groups cannot be set; add them in the Dockerfile",
        "working_dir" => "the image's WORKDIR is used; set WORKDIR in the Dockerfile",
        "stop_grace_period" => "ECS's stop timeout (30 seconds) is used",
        "stop_signal" => "the stop signal cannot be set here; ECS sends SIGTERM, then SIGKILL",
        "labels" | "label_file" | "annotations" => {
            "container labels are not set; AWS tags come from x-byoc.tags"
        }
        "logging" => {
            "output goes to CloudWatch Logs (the awslogs driver); the logging driver and its options cannot be changed"
        }
        "container_name" => {
            "ECS names tasks itself; other services reach this one by its Compose name"
        }
        "hostname" => {
            "ECS sets the task's host name; other services reach this one by its Compose name"
        }
        "mac_address" => "Fargate assigns network interfaces itself",
        "extra_hosts" => "no /etc/hosts entries on Fargate; use DNS names",
        "dns" | "dns_opt" | "dns_search" => "tasks use the VPC's DNS resolver",
        "links" | "external_links" => {
            "links are not needed: services reach each other by their Compose names (spec.private)"
        }
        "depends_on" => {
            "ECS starts every service on its own, with no start order and no wait for health; make the service retry its dependencies until they answer"
        }
        "configs" => {
            "there are no file mounts here; bake the file into the image or pass its content as an environment variable"
        }
        "stdin_open" | "tty" | "attach" => "ECS services run without a terminal or standard input",
        "init" => "no init process option here; add tini (or similar) as the image's ENTRYPOINT",
        "read_only" => "a read-only root file system cannot be requested here",
        "security_opt" => "security options cannot be set on Fargate",
        "shm_size" => "the shared memory size cannot be set here",
        "storage_opt" => {
            "storage options cannot be set; a Fargate task has 20 GiB of ephemeral storage"
        }
        "pull_policy" | "pull_refresh_after" => "ECS pulls the image whenever it starts a task",
        "runtime" | "isolation" => "Fargate's container runtime cannot be changed",
        "credential_spec" => "Windows credential specs do not apply to Linux tasks",
        "cpu_count" | "cpu_percent" | "cpu_shares" | "cpu_period" | "cpu_quota"
        | "cpu_rt_runtime" | "cpu_rt_period" | "cpuset" | "blkio_config" | "mem_swappiness"
        | "memswap_limit" | "oom_kill_disable" | "oom_score_adj" | "pids_limit" => {
            "Fargate sizes a task by cpu and memory only (deploy.resources.limits); this tuning is not available"
        }
        "develop" => "development-only (docker compose watch), ignored",
        "post_start" | "pre_stop" => "ECS has no container lifecycle hooks",
        "use_api_socket" => "there is no Docker socket on Fargate",
        "provider" | "models" => "provider services and models have no equivalent here",
        "external" => "not a service field; ignored",
        k if k.starts_with("x-") => "extension field, ignored",
        _ => "not a Compose service field byoc knows; ignored",
    };
    reason.to_string()
}

/// Reason for a `build` key that is not converted.
pub(crate) fn build(key: &str) -> String {
    let reason = match key {
        "ssh" => "SSH agent forwarding is not available to builds in the account",
        "secrets" => {
            "a build argument can read a Kubernetes Secret (spec.build.args[].valueFrom), but it stays in the image's history"
        }
        "cache_from" | "cache_to" | "no_cache" | "pull" => {
            "the builder manages its own cache and pulls"
        }
        "network" | "extra_hosts" => "builds use the builder's own network",
        "shm_size" | "ulimits" | "isolation" | "privileged" | "entitlements" => {
            "the builder's settings cannot be changed per build"
        }
        "labels" => "image labels are not set; add LABEL to the Dockerfile",
        "tags" => "the image is pushed to the service's own ECR repository only",
        "dockerfile_inline" => {
            "write the Dockerfile to a file in the build context and name it with dockerfile"
        }
        "additional_contexts" => "one build context per service",
        "provenance" | "sbom" => "provenance and SBOM attestations are not produced",
        k if k.starts_with("x-") => "extension field, ignored",
        _ => "not a Compose build field byoc knows; ignored",
    };
    reason.to_string()
}

/// Reason for a `deploy` key that is not converted.
pub(crate) fn deploy(key: &str) -> String {
    let reason = match key {
        "placement" => "Fargate places tasks itself, across the account's subnets",
        "update_config" | "rollback_config" => {
            "rollouts use spec.deployment's defaults: a rolling update with the circuit breaker, rolling back on failure"
        }
        "restart_policy" => "ECS replaces every task that stops (as restart: always)",
        "labels" => "service labels are not set; AWS tags come from x-byoc.tags",
        "endpoint_mode" => {
            "other services reach this one through Service Connect, not a VIP or DNS round robin"
        }
        k if k.starts_with("x-") => "extension field, ignored",
        _ => "not a Compose deploy field byoc knows; ignored",
    };
    reason.to_string()
}
