"""Create, in an AWS emulator, the network a real account would already have (a VPC, two subnets in
two zones, a task security group and an ALB security group), and print a CloudAccount for it.

Usage: python prereqs.py ENDPOINT_URL [ACCOUNT_NAME] [--https] > account.yaml
With --https the pool gets a second load balancer, "secure", with an ACM certificate.
"""
import sys

import boto3

args = [a for a in sys.argv[1:] if a != "--https"]
https = "--https" in sys.argv
endpoint = args[0]
name = args[1] if len(args) > 1 else "demo"
region = "eu-west-1"
ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name=region,
                   aws_access_key_id="testing", aws_secret_access_key="testing")
vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
subnets = [
    ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24", AvailabilityZone=f"{region}{z}")["Subnet"]["SubnetId"]
    for i, z in enumerate("ab")
]
tasks_sg = ec2.create_security_group(GroupName=f"{name}-tasks", Description="tasks", VpcId=vpc)["GroupId"]
alb_sg = ec2.create_security_group(GroupName=f"{name}-alb", Description="alb", VpcId=vpc)["GroupId"]
secure = ""
if https:
    acm = boto3.client("acm", endpoint_url=endpoint, region_name=region,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    cert = acm.request_certificate(DomainName=f"*.{name}.example.com")["CertificateArn"]
    secure = f"""
    - name: secure
      scheme: InternetFacing
      securityGroupIds: [{alb_sg}]
      certificateArn: {cert}"""
print(f"""apiVersion: byoc.dev/v1alpha1
kind: CloudAccount
metadata:
  name: {name}
spec:
  aws:
    region: {region}
    endpointUrl: {endpoint}
  network:
    vpcId: {vpc}
    subnetIds: [{subnets[0]}, {subnets[1]}]
    securityGroupIds: [{tasks_sg}]
  cluster:
    name: byoc-{name}
  executionRoleArn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
  build:
    serviceRoleArn: arn:aws:iam::123456789012:role/byoc/codebuild
  loadBalancers:
    - name: public
      scheme: InternetFacing
      securityGroupIds: [{alb_sg}]{secure}
  defaults:
    logRetentionDays: 30
""")
